/**
 * The floor under the runtime bench's cross-worker rows: two plain worker threads (no weft)
 * exchanging over a SharedArrayBuffer with Atomics. Round trips one at a time (spinning,
 * blocking in Atomics.wait, or polling once per event-loop turn with setImmediate, which is
 * all a thread that runs an event loop can do), one-way records through a ring, and 100
 * round trips in flight through a ring each way.
 *
 *   node dist/bench/floor.js [scale]
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { BATCH, BUFFER_BYTES, IN_FLIGHT, RING_SLOTS, WORDS, type Command, type Figures, type Kind } from "./floor-worker.js";
import { rate as fmt } from "./format.js";

const RUNS = 3;

export interface FloorRow {
  name: string;
  count: number;
  ms: number;
  rate: number;
  unit: string;
  /** Round-trip latency in µs, sampled (every 16th), for the one-at-a-time rows. */
  p50?: number;
  p99?: number;
}

export interface Floor {
  spin: FloorRow;
  blocking: FloorRow;
  immediate: FloorRow;
  oneway: FloorRow;
  pipelined: FloorRow;
}

export async function main(scale = 1): Promise<Floor> {
  const url = new URL("./floor-worker.js", import.meta.url);
  const workers = [new Worker(url), new Worker(url)];
  try {
    const run = (kind: Kind, count: number): Promise<Figures> => {
      const sab = new SharedArrayBuffer(BUFFER_BYTES);
      const done = workers.map(
        (w) =>
          new Promise<Figures>((resolve, reject) => {
            w.once("message", resolve);
            w.once("error", reject);
          }).finally(() => w.removeAllListeners("error")),
      );
      // "b" first: "a" waits for it before timing anything.
      workers[1].postMessage({ kind, side: "b", sab, count } satisfies Command);
      workers[0].postMessage({ kind, side: "a", sab, count } satisfies Command);
      return Promise.all(done).then(([a]) => a);
    };
    const measure = async (name: string, kind: Kind, count: number, unit: string): Promise<FloorRow> => {
      await run(kind, Math.ceil(count / 4));
      const results: Figures[] = [];
      for (let i = 0; i < RUNS; i++) results.push(await run(kind, count));
      const { ms, p50, p99 } = results.sort((a, b) => b.ms - a.ms)[RUNS >> 1];
      return { name, count, ms, rate: count / (ms / 1000), unit, p50, p99 };
    };
    const n = (base: number) => Math.max(1000, Math.round(base * scale));
    console.log(`floor bench: node ${process.version}, 2 plain worker threads (no weft) sharing a SharedArrayBuffer, Atomics`);
    console.log(
      `  one-way: records of ${WORDS * 4} B through a ring of ${RING_SLOTS}, published every ${BATCH}; ${IN_FLIGHT} in flight: such a ring each way, each side publishing what it wrote in a pass; latency sampled every 16th round trip; each row a warm-up, then the median of ${RUNS} runs`,
    );
    const floor: Floor = {
      spin: await measure("ping-pong, spin (Atomics.load loop)", "spin", n(1_000_000), "trips/s"),
      blocking: await measure("ping-pong, blocking (Atomics.wait)", "blocking", n(20_000), "trips/s"),
      immediate: await measure("ping-pong, setImmediate poll", "immediate", n(100_000), "trips/s"),
      oneway: await measure("one-way ring, spin", "oneway", n(40_000_000), "msgs/s"),
      pipelined: await measure(`ping-pong, ${IN_FLIGHT} in flight, spin`, "pipelined", n(10_000_000), "trips/s"),
    };
    for (const r of Object.values(floor)) {
      const latency = r.p50 === undefined ? `  ${((r.ms * 1e6) / r.count).toFixed(0)} ns/msg` : `  p50 ${r.p50.toFixed(2)} µs  p99 ${r.p99!.toFixed(2)} µs`;
      console.log(`  ${r.name.padEnd(36)} ${String(r.count).padStart(8)} in ${r.ms.toFixed(0).padStart(5)} ms  ${fmt(r.rate).padStart(7)} ${r.unit}${latency}`);
    }
    console.log(
      `floor: ping-pong ${fmt(floor.spin.rate)}/s spin, ${fmt(floor.blocking.rate)}/s blocking, ${fmt(floor.immediate.rate)}/s setImmediate poll; one-way ${fmt(floor.oneway.rate)}/s; ${fmt(floor.pipelined.rate)}/s with ${IN_FLIGHT} in flight`,
    );
    return floor;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 1)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
