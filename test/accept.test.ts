/**
 * Accepting under load (issue 16, part 6): a gate's `listeners` open option gives it several
 * listening descriptors on one socket, so Node's event loop, which accepts one connection per
 * descriptor each time round, lets a crowd in while the gate is busy. What is tested here is the
 * behaviour a user relies on (every connection served, every descriptor gone at `close` and at
 * exit, bad values refused); how fast is for bench/gate.ts (`crowd`), never for tests.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Runtime } from "weft";
import type Watchdog from "../examples/echo/watchdog.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";
import { NetClient, pattern } from "./net-client.js";

const echoDir = fileURLToPath(new URL("../dist/examples/echo/", import.meta.url));

/** The descriptors of this process (its worker threads included) on the socket listening on `port`; undefined off Linux. */
function listeningDescriptors(port: number): number | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return undefined;
  }
  // local address 0100007F:PORT, state 0A (LISTEN); the 10th column is the socket's inode.
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const row = table.split("\n").find((l) => l.includes(`:${hex} `) && l.trim().split(/\s+/)[3] === "0A");
  if (row === undefined) return 0;
  const inode = row.trim().split(/\s+/)[9];
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  }).length;
}

async function echoGate(conf: Record<string, unknown>): Promise<{ rt: Runtime; port: number }> {
  const rt = await startRuntime({ servicePath: echoDir, logger: logFile().path });
  const watchdog = await rt.newService<typeof Watchdog>("watchdog");
  const { port } = await rt.call(watchdog, "start", { port: 0, nodelay: true, ...conf });
  return { rt, port };
}

/** Resolves when a server may listen on `port` again: no descriptor of the old socket is left. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host: "127.0.0.1", port }, () => probe.close(() => resolve(true)));
  });
}

describe("a gate with listeners", () => {
  it("listens through that many descriptors on one port and serves a crowd that connects at once", async () => {
    const { port } = await echoGate({ listeners: 16, maxclient: 300 });
    const seen = listeningDescriptors(port);
    if (seen !== undefined) expect(seen).toBe(16);

    const clients = await Promise.all(Array.from({ length: 200 }, () => NetClient.connect(port)));
    await Promise.all(clients.map((c, i) => c.send(pattern(64, i))));
    const echoed = await Promise.all(clients.map((c) => c.waitPackets(1)));
    echoed.forEach((packets, i) => expect(packets).toEqual([pattern(64, i)]));
  });

  it("lets every descriptor go at close, so the port is free again, and keeps its connections", async () => {
    const { rt, port } = await echoGate({ listeners: 8 });
    const client = await NetClient.connect(port);
    await client.send("before");
    await client.waitPackets(1);
    const gate = (await rt.list()).find((r) => r.name === "gate")!.handle;

    await rt.call(gate, "close");

    expect(await portFree(port)).toBe(true);
    if (listeningDescriptors(port) !== undefined) expect(listeningDescriptors(port)).toBe(0);
    // The connection made before is still served.
    await client.send("after");
    expect(await client.waitPackets(2)).toEqual([Buffer.from("before"), Buffer.from("after")]);
  });

  it("lets every descriptor go when the gate exits", async () => {
    const { rt, port } = await echoGate({ listeners: 8 });
    const gate = (await rt.list()).find((r) => r.name === "gate")!.handle;
    expect(await rt.kill(gate)).toBe(true);
    expect(await portFree(port)).toBe(true);
  });

  it("refuses a count that is not an integer from 1 to 1024 before it listens", async () => {
    const rt = await startRuntime({ servicePath: echoDir, logger: logFile().path });
    for (const listeners of [0, 1.5, 1025, "many"]) {
      const watchdog = await rt.newService<typeof Watchdog>("watchdog");
      const err = await rejectionOf(rt.call(watchdog, "start", { port: 0, listeners } as never));
      expect(err.message).toMatch(/listeners must be an integer from 1 to 1024/);
    }
  });
});

describe("a gate's listen backlog", () => {
  it("is maxclient by default (at least 511), as the kernel reports it (up to somaxconn)", async () => {
    let somaxconn: number;
    try {
      somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    } catch {
      return; // not Linux: nothing to read the backlog from
    }
    const { port } = await echoGate({ maxclient: 2000 });
    const { port: small } = await echoGate({ maxclient: 10 });
    // `ss -ltn` shows a listening socket's backlog as Send-Q; /proc/net/tcp does not, so ask ss.
    const { execFileSync } = await import("node:child_process");
    const backlogOf = (p: number) => Number(execFileSync("ss", ["-ltnH", `sport = :${p}`], { encoding: "utf8" }).trim().split(/\s+/)[2]);
    try {
      backlogOf(port);
    } catch {
      return; // no ss (iproute2) here
    }
    expect(backlogOf(port)).toBe(Math.min(2000, somaxconn));
    expect(backlogOf(small)).toBe(Math.min(511, somaxconn));
  });
});
