/**
 * The watchdog example under supervision (issue 11, point 1): losing the gate's worker, or the
 * watchdog's, leaves a node that serves new clients again, on the same port, by itself.
 */
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { examples, fixtures, startExample } from "./helpers.js";
import { NetClient, within } from "./net-client.js";

const packr = new Packr({ useRecords: false });

/** A client of the example's protocol: a request answered, over a real TCP connection. */
async function handshake(port: number): Promise<{ client: NetClient; answer: unknown }> {
  const client = await NetClient.connect(port);
  await client.send(packr.pack([1, "handshake", {}]));
  const [reply] = await within(client.waitPackets(1), 5000, "a handshake answer");
  return { client, answer: packr.unpack(reply) };
}

async function startTcpExample() {
  const { rt, log, portOf } = await startExample({ servicePath: [examples, fixtures], gate: "gate", heartbeat: 60_000 });
  const port = await portOf(/Watchdog listen on 127\.0\.0\.1:(\d+)$/);
  const worker = async (name: string) => (await rt.list()).find((r) => r.name === name)!.worker;
  /** Ends a worker thread the way a crash would: process.exit inside a service there. */
  const crash = async (slot: number) => rt.send(await rt.newServiceOn(slot, "fault_crasher"), "exitProcess", 9);
  return { rt, log, port, worker, crash };
}

describe("the watchdog example under supervision", () => {
  it("opens the gate again on the same port when the gate's worker dies, and serves new clients", async () => {
    const { rt, log, port, worker, crash } = await startTcpExample();
    const before = await handshake(port);
    expect(before.answer).toEqual([1, { msg: expect.stringContaining("Welcome to weft") }]);
    const oldGate = (await rt.list()).find((r) => r.name === "gate")!;

    await crash(oldGate.worker);
    await log.waitFor(/restarted gate \(permanent\)/);

    // The old connection went with the gate's worker.
    await within(before.client.closed, 5000, "the old connection closed");
    const after = await handshake(port);
    expect(after.answer).toEqual([1, { msg: expect.stringContaining("Welcome to weft") }]);
    const gate = (await rt.list()).find((r) => r.name === "gate")!;
    expect(gate.handle).not.toBe(oldGate.handle);
    expect(gate.restarts).toBe(1);
    expect(await worker("watchdog")).toBeGreaterThan(0);
  });

  it("keeps serving when the watchdog's worker dies: the restarted watchdog hears the gate by name", async () => {
    const { rt, log, port, worker, crash } = await startTcpExample();
    const gateWorker = await worker("gate");
    const watchdogWorker = await worker("watchdog");
    // With two workers the example puts them apart; the scenario needs that.
    expect(watchdogWorker).not.toBe(gateWorker);

    await crash(watchdogWorker);
    await log.waitFor(/restarted watchdog \(permanent\)/);

    const after = await handshake(port);
    expect(after.answer).toEqual([1, { msg: expect.stringContaining("Welcome to weft") }]);
    expect((await rt.list()).find((r) => r.name === "watchdog")!.restarts).toBe(1);
  });
});
