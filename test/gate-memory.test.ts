/**
 * A closed connection is freed at once (issue 11): after thousands of clients connect and
 * close (FIN), the gate's worker heap, measured after a full collection (`rt.system(worker,
 * { op: "gc" })`), is back near where it was, on both gates. The gate runs on a worker of its
 * own, apart from the watchdog that records every event, so only the gate's memory is measured.
 * WEFT_CLOSES=10000 runs the figure quoted in the README.
 */
import { describe, expect, it } from "vitest";
import { slotOf } from "weft/internal";
import type { Runtime } from "weft";
import { openGate } from "./gate-harness.js";
import { useRuntime } from "./helpers.js";
import { NetClient, within } from "./net-client.js";
import { WsClient } from "./ws-client.js";

const runtime = useRuntime();
const CLOSES = Number(process.env.WEFT_CLOSES ?? 3000);
const BATCH = 250;
const KiB = 1024;

/** The heap of `worker` after a full collection, in bytes. */
const heapAfterGc = async (rt: Runtime, worker: number) => ((await rt.system(worker, { op: "gc" })) as { after: number }).after;

interface Closer {
  peer: string;
  closed: Promise<unknown>;
  /** TCP: half-closes (FIN). */
  end?(): void;
}

/** How a batch is closed: each TCP client sends FIN; the websocket gate kicks its clients (a close frame, then the grace timer). */
type Close = (batch: Closer[]) => Promise<void>;

/** Connects `n` clients in batches, each closing as soon as it is served, and waits for every close. */
async function connectAndClose(connect: () => Promise<Closer>, close: Close, n: number): Promise<void> {
  for (let done = 0; done < n; done += BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(BATCH, n - done) }, connect));
    await close(batch);
    await Promise.all(batch.map((c) => within(c.closed, 10_000, "a client was not closed")));
  }
}

const clients = {
  gate: async (port: number): Promise<Closer> => {
    const c = await NetClient.connect(port, { track: false });
    // FIN: the gate ends its side once a turn passes with nothing written, and the socket closes.
    return { peer: c.peer, closed: c.closed, end: () => c.end() };
  },
  wsgate: async (port: number): Promise<Closer> => {
    const c = await WsClient.connect(port);
    return { peer: c.peer, closed: c.closed };
  },
};

describe.each(["gate", "wsgate"] as const)("%s", (service) => {
  it(`frees a closed connection at once: ${CLOSES} closes leave the gate's heap within 2 MiB of where it was`, async () => {
    const rt = runtime();
    const g = await openGate(rt, service, clients[service], {}, { onOpen: "accept", worker: 2 });
    const worker = slotOf(g.gate);
    expect(worker).toBe(2);
    const connect = () => g.connect();
    const close: Close =
      service === "gate"
        ? async (batch) => batch.forEach((c) => c.end!())
        : async (batch) => {
            // By the gate's own list: a client's port comes back in later batches, so a peer does not name one fd.
            const open = await g.statsUntil((s) => s.connections === batch.length, "the batch to be upgraded");
            expect(open.connections).toBe(batch.length);
            for (const c of await g.connections()) g.rt.send(g.gate, "kick", c.fd);
          };
    // Warm up: the code paths compiled, the tables grown once.
    await connectAndClose(connect, close, BATCH);
    await g.statsUntil((s) => s.connections === 0 && s.closed === BATCH, "the warm-up closes");
    const before = await heapAfterGc(rt, worker);

    await connectAndClose(connect, close, CLOSES);
    await g.statsUntil((s) => s.connections === 0 && s.closed === BATCH + CLOSES, `${CLOSES} closes`);
    const after = await heapAfterGc(rt, worker);
    console.log(`${service}: heap after ${CLOSES} closes ${((after - before) / KiB).toFixed(0)} KiB over the ${(before / KiB / KiB).toFixed(1)} MiB before (${((after - before) / CLOSES).toFixed(0)} B per connection)`);
    expect(after - before).toBeLessThan(2048 * KiB);
  });
});
