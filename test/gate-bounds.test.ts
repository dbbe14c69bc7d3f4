/**
 * What bounds a gate against its clients (issue 11), on both gates over real sockets on
 * 127.0.0.1: a client that does not read its answers is not read either; the packet-rate
 * limit; cut connections logged once for the operator, and the log itself rate-limited;
 * resets counted, not logged; the `stats` counters. The heap after many closes is in
 * gate-memory.test.ts, the inbound backpressure in gate-backpressure.test.ts.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { formatHandle, type Handle, type WsGateConf } from "weft";
import type { GateStats } from "weft/internal";
import type Agent from "./fixtures/net_agent.js";
import type { WatchdogOptions } from "./fixtures/net_watchdog.js";
import { openGate as openGateOf, packetsOf } from "./gate-harness.js";
import { logFile, startExample, useRuntime } from "./helpers.js";
import { digest, frames, NetClient, pattern, quietFor, within } from "./net-client.js";
import { WsClient } from "./ws-client.js";

const log = logFile();
const runtime = useRuntime({ logger: log.path });
const MiB = 1024 * 1024;

/** What these tests need of a client, over either gate. */
interface Client {
  peer: string;
  send(...payloads: (Uint8Array | string)[]): Promise<void>;
  pause(): void;
  resume(): void;
  /** The first n packets (messages) it received. */
  answers(n: number, ms?: number): Promise<Buffer[]>;
  /** Resets the TCP connection under it. */
  reset(): void;
  end(): void;
  closed: Promise<unknown>;
}

const clients = {
  gate: async (port: number): Promise<Client> => {
    const c = await NetClient.connect(port);
    return {
      peer: c.peer,
      send: (...p) => c.send(...p),
      pause: () => c.pause(),
      resume: () => c.resume(),
      answers: (n, ms) => c.waitPackets(n, ms),
      reset: () => c.socket.resetAndDestroy(),
      end: () => c.end(),
      closed: c.closed,
    };
  },
  wsgate: async (port: number): Promise<Client> => {
    const c = await WsClient.connect(port);
    return {
      peer: c.peer,
      send: (...p) => c.send(...p),
      pause: () => c.pause(),
      resume: () => c.resume(),
      answers: (n, ms) => c.waitMessages(n, ms),
      reset: () => (c.ws as unknown as { _socket: Socket })._socket.resetAndDestroy(),
      end: () => c.close(),
      closed: c.closed,
    };
  },
};

const none = { backpressure: 0, rate: 0, backlog: 0, link: 0 };

describe.each(["gate", "wsgate"] as const)("%s", (service) => {
  const openGate = (conf: WsGateConf = {}, options: WatchdogOptions = {}) => openGateOf(runtime(), service, clients[service], conf, options);
  const idleWord = service === "gate" ? "packet" : "message";

  describe("a client that does not read its answers", () => {
    it("is not read either while its unsent backlog is past 1 MiB, and is read again once it drained", async () => {
      const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
      const client = await g.connect();
      const fd = await g.fdOf(client);
      await g.agentOf(fd);
      client.pause();
      // 33 MB of requests whose answers it never reads: more than the kernel's buffers hold.
      const payloads = Array.from({ length: 550 }, (_, i) => pattern(60_000, i));
      void client.send(...payloads).catch(() => undefined);

      const held = await g.statsUntil((s) => s.pausedFor.backlog === 1, "the gate to stop reading the client");
      expect(held).toMatchObject({ connections: 1, paused: 1 });
      const { bytesIn } = (await g.connection(fd))!;
      await quietFor(300);
      // Not one byte more was read: the agent cannot be made to write more answers. What was
      // read before the gate saw the backlog pass 1 MiB is still answered (requests in the
      // agent's mailbox), so the backlog ends a few MiB past the mark, far from all 33 MB.
      expect((await g.connection(fd))!.bytesIn).toBe(bytesIn);
      expect(bytesIn).toBeLessThan(24 * MiB);
      expect((await g.connection(fd))!.backlog).toBeLessThan(20 * MiB);

      client.resume();
      expect(digest(await client.answers(payloads.length, 30_000))).toEqual(digest(payloads));
      expect(await g.statsUntil((s) => s.paused === 0, "the gate to read the client again")).toMatchObject({ pausedFor: none });
      expect(await g.events("error", fd)).toEqual([]);
    });

    it("is cut past backlogLimit, and the operator reads one line naming fd, peer and reason", async () => {
      const g = await openGate({ backlogLimit: 2 * MiB }, { onOpen: "agent", agent: { echo: false } });
      const client = await g.connect();
      const fd = await g.fdOf(client);
      const agent = await g.agentOf(fd);
      client.pause();
      await g.rt.call<typeof Agent>(agent, "flood", 64, 65534, 64);
      const [error] = await g.until("error", 1, fd);
      expect(error!.detail).toMatch(/^unsent backlog of \d+ bytes passed the limit of 2097152$/);

      const line = await log.waitFor(new RegExp(`\\[${formatHandle(g.gate)}\\] ${service}: fd ${fd} \\(${client.peer}\\) cut: unsent backlog of \\d+ bytes passed the limit of 2097152$`));
      expect(log.lines().filter((l) => l.includes(formatHandle(g.gate)))).toEqual([line]);
      expect(await g.stats()).toMatchObject({ cut: 1, cutFor: { backlog: 1, idle: 0, upgrade: 0 }, connections: 0 });
    });
  });

  describe("the packet-rate limit", () => {
    it("holds a client to `rate` packets/s after its `burst`, delivering every packet in order; others are not slowed", async () => {
      const g = await openGate({ rate: 200, burst: 20 }, { onOpen: "agent" });
      const fast = await g.connect();
      const other = await g.connect();
      const fdF = await g.fdOf(fast);
      const fdO = await g.fdOf(other);
      const payloads = Array.from({ length: 120 }, (_, i) => pattern(10, i));
      const agent = await g.agentOf(fdF);
      const started = Date.now();
      await fast.send(...payloads);

      await g.statsUntil((s) => s.pausedFor.rate === 1, "the rate limit to hold the fast client");
      // Meanwhile another client's burst goes through at once.
      const otherStarted = Date.now();
      await other.send("a", "b", "c");
      expect(await packetsOf(g.rt, await g.agentOf(fdO), 3)).toEqual(["a", "b", "c"].map((s) => Buffer.from(s)));
      expect(Date.now() - otherStarted).toBeLessThan(250);

      expect(await packetsOf(g.rt, agent, payloads.length)).toEqual(payloads);
      // 100 packets past the burst at 200/s: at least half a second (less a read's worth of slack).
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      expect(await g.statsUntil((s) => s.paused === 0, "the rate limit to let go")).toMatchObject({ pausedFor: none, cut: 0 });
    });

    it.runIf(service === "gate")("answers every packet a rate-limited client sent before its FIN, then ends the connection", async () => {
      const g = await openGate({ rate: 200, burst: 10 }, { onOpen: "agent", agent: { echo: true } });
      const client = await NetClient.connect(g.port);
      await g.rt.call(g.wd, "fdOf", client.peer);
      const payloads = Array.from({ length: 60 }, (_, i) => pattern(20, i));
      client.socket.end(frames(payloads));
      expect(await client.waitPackets(60)).toEqual(payloads);
      await within(client.ended, 5000, "the gate did not end the connection after the client's FIN");
    });

    it("refuses a rate or a burst that is not a positive number", async () => {
      const rt = runtime();
      const gate = await rt.newService(service);
      try {
        await expect(rt.call(gate, "open", { rate: -5 })).rejects.toThrow(/rate must be a positive number/);
        await expect(rt.call(gate, "open", { rate: 5, burst: 0 })).rejects.toThrow(/burst must be a number of packets/);
        await expect(rt.call(gate, "open", { inboundMark: 0 })).rejects.toThrow(/inboundMark must be a positive number/);
      } finally {
        await rt.kill(gate);
      }
    });
  });

  describe("what the operator reads", () => {
    it("logs each idle cut with fd, peer and reason, at most 10 lines in 10 s, then one line counting the rest", async () => {
      const g = await openGate({ timeout: 1 }, { onOpen: "accept" });
      const silent = await Promise.all(Array.from({ length: 15 }, () => g.connect()));
      const fds = await Promise.all(silent.map((c) => g.fdOf(c)));
      await g.statsUntil((s) => s.cutFor.idle === 15, "15 idle cuts", 5000);
      const mine = () => log.lines().filter((l) => l.startsWith(`[${formatHandle(g.gate)}]`));
      // The logger is a service too: its lines land in the file a little later.
      await log.waitFor(new RegExp(`\\[${formatHandle(g.gate)}\\] .*cut: no ${idleWord}`));
      for (const deadline = Date.now() + 5000; mine().length < 10 && Date.now() < deadline; ) await quietFor(10);
      const cuts = mine();
      expect(cuts).toHaveLength(10);
      for (const line of cuts) {
        const m = /\] \w+: fd (\d+) \((127\.0\.0\.1:\d+)\) cut: no (\w+) for 1 s$/.exec(line);
        expect(m, line).not.toBeNull();
        expect(fds).toContain(Number(m![1]));
        expect(silent.map((c) => c.peer)).toContain(m![2]);
        expect(m![3]).toBe(idleWord);
      }
      // The summary waits for the window's end, or for the gate to exit.
      await g.rt.kill(g.gate);
      const summary = await log.waitFor(new RegExp(`\\[${formatHandle(g.gate)}\\] .*cut: no ${idleWord} for 1 s … \\(repeated 5 times in the last [\\d.]+ s\\)$`));
      expect(mine()).toEqual([...cuts, summary]);
    });
  });

  describe("stats", () => {
    it("counts accepted, refused, closed, resets and cut connections, and those paused now", async () => {
      const g = await openGate({ maxclient: 2, backlogLimit: 2 * MiB }, { onOpen: "agent" });
      const a = await g.connect();
      const b = await g.connect();
      const fdA = await g.fdOf(a);
      const fdB = await g.fdOf(b);
      await g.agentOf(fdA);
      await g.agentOf(fdB);
      expect(await g.stats()).toEqual<GateStats>({
        connections: 2, upgrading: 0, accepted: 2, refused: 0, closed: 0, resets: 0, errors: 0,
        cut: 0, cutFor: { backlog: 0, idle: 0, upgrade: 0 }, paused: 0, pausedFor: none,
      });

      // One past maxclient: refused (TCP: closed at once; websocket: 503).
      await g.connect().then((c) => within(c.closed, 5000, "the refused client was not closed"), () => undefined);
      await g.statsUntil((s) => s.refused === 1, "the refusal");

      a.end();
      await g.until("close", 1, fdA);
      b.reset();
      const [reset] = await g.until("close", 1, fdB);
      expect(reset!.detail).toBe("ECONNRESET");

      const d = await g.connect();
      const fdD = await g.fdOf(d);
      d.pause();
      await g.rt.call<typeof Agent>(await g.agentOf(fdD), "flood", 64, 65534, 64);
      await g.until("error", 1, fdD);

      expect(await g.stats()).toEqual<GateStats>({
        connections: 0, upgrading: 0, accepted: 3, refused: 1, closed: 1, resets: 1, errors: 0,
        cut: 1, cutFor: { backlog: 1, idle: 0, upgrade: 0 }, paused: 0, pausedFor: none,
      });
    });
  });
});

describe("client resets against the watchdog example", () => {
  it("are counted by the gate as resets and give no log line", async () => {
    const { rt, log: exampleLog, portOf } = await startExample({ web: false });
    const port = await portOf(/Watchdog listen on 127\.0\.0\.1:(\d+)$/);
    const gate = (await rt.list()).find((s) => s.name === "gate")!.handle as Handle;
    const { Packr } = await import("msgpackr");
    const packr = new Packr({ useRecords: false });
    const COUNT = 50;
    const resetters = await Promise.all(Array.from({ length: COUNT }, () => NetClient.connect(port)));
    // Each is served (its agent answers) before it resets.
    await Promise.all(resetters.map((c) => c.send(packr.pack([1, "handshake", {}])).then(() => c.waitPackets(1))));
    for (const c of resetters) c.socket.resetAndDestroy();

    const deadline = Date.now() + 10_000;
    let stats: GateStats;
    while ((stats = (await rt.call(gate, "stats")) as GateStats).resets < COUNT && Date.now() < deadline) await quietFor(10);
    expect(stats).toMatchObject({ accepted: COUNT, resets: COUNT, errors: 0, connections: 0 });
    // The watchdog heard `close` for each (it ends the agent): no agents are left.
    while ((await rt.list()).some((s) => s.name === "agent") && Date.now() < deadline) await quietFor(10);
    expect((await rt.list()).filter((s) => s.name === "agent")).toEqual([]);
    expect(exampleLog.lines().filter((l) => /ECONNRESET|socket error/.test(l))).toEqual([]);
  });
});
