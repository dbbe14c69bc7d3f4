/**
 * One flooding client against the watchdog example (issue 11, point 4): a client that sends
 * requests as fast as its socket takes them, and reads the answers, must not make the server
 * hold what it cannot pass on. The agent lives on the other worker and answers slower than the
 * gate reads: without backpressure the bytes wait in the gate's thread for room in the ring to
 * the agent (hundreds of MiB in seconds). The gate stops reading while its thread is backed up.
 */
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import { Packr } from "msgpackr";
import { describe, expect, it, onTestFinished } from "vitest";
import { startExample } from "./helpers.js";
import { NetClient, within } from "./net-client.js";

const MiB = 1024 * 1024;
const packr = new Packr({ useRecords: false });

/** Sends framed `echo` requests of 1 KiB as fast as the socket takes them, reading (and dropping) the answers. */
function flood(port: number) {
  const body = packr.pack([1, "echo", "x".repeat(1024)]);
  const frame = Buffer.allocUnsafe(2 + body.length);
  frame.writeUInt16BE(body.length, 0);
  body.copy(frame, 2);
  const burst = Buffer.concat(Array.from({ length: 64 }, () => frame));
  const socket = connect({ host: "127.0.0.1", port });
  onTestFinished(() => void socket.destroy());
  let sent = 0;
  let received = 0;
  let stopped = false;
  socket.on("data", (chunk: Buffer) => (received += chunk.length));
  socket.on("error", () => undefined);
  const pump = () => {
    while (!stopped && socket.write(burst)) sent += burst.length;
    if (!stopped) sent += burst.length;
  };
  socket.on("connect", pump);
  socket.on("drain", pump);
  return {
    counts: () => ({ sent, received }),
    stop: () => {
      stopped = true;
      socket.destroy();
    },
  };
}

describe("the watchdog example under a flooding client that reads", () => {
  it("keeps the gate's worker memory (heap and buffers) bounded while it answers the flood, and serves another client meanwhile", async () => {
    const { rt, portOf } = await startExample({ gate: "gate", heartbeat: 60_000 });
    const port = await portOf(/Watchdog listen on 127\.0\.0\.1:(\d+)$/);
    const gateWorker = (await rt.list()).find((r) => r.name === "gate")!.worker;
    // Buffers waiting to be sent live outside the JS heap: count both.
    const heap = async () => {
      const mem = (await rt.system(gateWorker, { op: "mem" })) as { heapUsed: number; external: number };
      return mem.heapUsed + mem.external;
    };
    const before = await heap();

    const flooder = flood(port);
    let peak = 0;
    // Until 300 MiB have gone in, or 6 s: far past what the server may hold.
    const until = Date.now() + 6000;
    while (flooder.counts().sent < 300 * MiB && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      peak = Math.max(peak, await heap());
    }
    // Another client, while the flood goes on, is answered.
    const other = await NetClient.connect(port);
    await other.send(packr.pack([7, "handshake", {}]));
    const [welcome] = await within(other.waitPackets(1), 5000, "an answer to the other client");
    expect(packr.unpack(welcome)).toEqual([7, { msg: expect.stringContaining("Welcome") }]);
    const { sent, received } = flooder.counts();
    flooder.stop();

    expect(sent).toBeGreaterThan(20 * MiB);
    // What was sent and not answered yet waits somewhere: in the sockets' buffers (a few MiB)
    // and in the server. Without backpressure it is most of the flood.
    expect(sent - received, `${((sent - received) / MiB).toFixed(0)} MiB sent and not answered`).toBeLessThan(48 * MiB);
    expect(peak - before, `memory grew by ${((peak - before) / MiB).toFixed(0)} MiB while ${(sent / MiB).toFixed(0)} MiB were sent`).toBeLessThan(128 * MiB);
  });
});
