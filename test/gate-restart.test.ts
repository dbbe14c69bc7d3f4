/**
 * A gate restarted by supervision opens again with its last `open` (issue 11): the same port,
 * the same settings, the same watchdog, which hears about the new connections as before; a gate
 * that was closed stays closed. Its worker dies for real (process.exit in a service beside it).
 */
import { describe, expect, it } from "vitest";
import { formatHandle, parseHandle, type Handle, type Runtime } from "weft";
import type { GateStats } from "weft/internal";
import type Watchdog from "./fixtures/net_watchdog.js";
import { logFile, startRuntime } from "./helpers.js";
import { NetClient, within } from "./net-client.js";

/** A permanent gate on worker 2, opened for a watchdog on worker 1; `crash()` ends worker 2 and answers the gate that took its place. */
async function supervisedGate(rt: Runtime, log: ReturnType<typeof logFile>) {
  const wd = await rt.newServiceOn<typeof Watchdog>(1, "net_watchdog");
  const gate = await rt.newServiceWith({ restart: "permanent", worker: 2 }, "gate");
  return {
    wd,
    gate,
    async crash(): Promise<Handle> {
      const crasher = await rt.newServiceOn(2, "fault_crasher");
      rt.send(crasher, "exitProcess", 3);
      const line = await log.waitFor(new RegExp(`restarted gate \\(permanent\\) as (:[0-9a-f]{8}), after ${formatHandle(gate)} ended`));
      return parseHandle(/as (:[0-9a-f]{8})/.exec(line)![1]!)!;
    },
  };
}

describe("a gate under supervision", () => {
  it("listens again on the same port with its last open's settings when its worker dies, and tells the same watchdog", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { wd, gate, crash } = await supervisedGate(rt, log);
    const { port } = await rt.call(gate, "open", { port: 0, maxclient: 1, watchdog: wd });
    const before = await NetClient.connect(port);
    await rt.call(wd, "fdOf", before.peer);

    const again = await crash();
    expect(again).not.toBe(gate);
    await within(before.closed, 5000, "the connection of the lost gate was not closed");

    // Listening already: the restart opened before the new gate answered anything.
    // The new gate numbers from 1 again; the watchdog heard of this client from it.
    const client = await NetClient.connect(port);
    const fd = await rt.call(wd, "fdOf", client.peer);
    expect(fd).toBe(1);
    // maxclient 1 came back with it: one more is refused.
    const extra = await NetClient.connect(port);
    await within(extra.closed, 5000, "the connection past maxclient 1 was not closed");
    expect(await rt.call(again, "stats")).toMatchObject<Partial<GateStats>>({ connections: 1, accepted: 1, refused: 1 });
    expect(await rt.call(again, "accept", fd)).toBe(true);
    await client.send("after the restart");
    await rt.call(wd, "until", "data", 1, fd);
  });

  it("stays closed after a restart once it was closed", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { wd, gate, crash } = await supervisedGate(rt, log);
    const { port } = await rt.call(gate, "open", { port: 0, watchdog: wd });
    await rt.call(gate, "close");
    const again = await crash();
    expect(await rt.call(again, "connections")).toEqual([]);
    await expect(NetClient.connect(port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    // And it can be opened anew.
    const { port: next } = await rt.call(again, "open", { port: 0, watchdog: wd });
    const client = await NetClient.connect(next);
    await rt.call(wd, "fdOf", client.peer);
  });
});
