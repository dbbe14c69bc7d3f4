/**
 * The sending end of the runtime benchmarks. Each command runs one measurement inside the
 * runtime and returns its figures; timing happens here, next to the messages.
 */
import { performance } from "node:perf_hooks";
import { defineService, type Address } from "weft";
import type Target from "./bench_target.js";

export interface Measured {
  count: number;
  ms: number;
  /** Call latencies in µs, sampled (every 16th call). */
  p50?: number;
  p99?: number;
}

const percentile = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

export default defineService((svc) => {
  return {
    /**
     * `total` one-way messages with primitive arguments. Every `window` messages end with a
     * call, and at most `depth` windows are in flight, so the receiver's mailbox stays small.
     */
    async oneway(target: Address<typeof Target>, total: number, window = 500, depth = 2): Promise<Measured> {
      const inFlight: Promise<number>[] = [];
      const start = performance.now();
      for (let sent = 0; sent < total; ) {
        const n = Math.min(window, total - sent);
        for (let i = 0; i < n - 1; i++) svc.send(target, "hit", i, "x");
        inFlight.push(svc.call(target, "sync"));
        sent += n;
        if (inFlight.length >= depth) await inFlight.shift();
      }
      await Promise.all(inFlight);
      return { count: total, ms: performance.now() - start };
    },

    /** `concurrency` loops each making calls one after another, `total` calls in all. */
    async calls(target: Address<typeof Target>, total: number, concurrency = 1): Promise<Measured> {
      const samples = new Float64Array(Math.ceil(total / 16) + concurrency);
      let sampled = 0;
      let next = 0;
      const loop = async () => {
        while (next < total) {
          const i = next++;
          if ((i & 15) === 0) {
            const t0 = performance.now();
            await svc.call(target, "echo", i);
            samples[sampled++] = (performance.now() - t0) * 1000;
          } else {
            await svc.call(target, "echo", i);
          }
        }
      };
      const start = performance.now();
      await Promise.all(Array.from({ length: concurrency }, loop));
      const ms = performance.now() - start;
      const sorted = samples.subarray(0, sampled).sort();
      return { count: total, ms, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
    },
  };
});
