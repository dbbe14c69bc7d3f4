/**
 * Runtime benchmark: one-way sends and call round trips, within one worker and across workers,
 * through the real runtime (Runtime.start, real worker threads). The floor bench runs first, so
 * each cross-worker row shows beside what two bare threads manage over shared memory.
 *
 *   node dist/bench/runtime.js [count]
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { Runtime, type Address } from "weft";
import type Driver from "./services/bench_driver.js";
import type { Measured } from "./services/bench_driver.js";
import type Target from "./services/bench_target.js";
import { main as measureFloor } from "./floor.js";
import { rate as fmt } from "./format.js";

const servicePath = fileURLToPath(new URL("./services/", import.meta.url));
const RUNS = 3;

interface Row {
  name: string;
  result: Measured;
  unit: string;
  target: number;
  /** The bare-threads figure this row compares with. */
  floor?: { label: string; rate: number };
}

export async function main(scale = 1): Promise<Row[]> {
  // Before the runtime starts, so neither competes with the other's threads for the cores.
  const floor = await measureFloor(scale);
  const rt = await Runtime.start({ thread: 2, servicePath, start: null, logger: null });
  const rows: Row[] = [];
  try {
    const driver = (await rt.newServiceOn(1, "bench_driver")) as Address<typeof Driver>;
    const local = (await rt.newServiceOn(1, "bench_target")) as Address<typeof Target>;
    const remote = (await rt.newServiceOn(2, "bench_target")) as Address<typeof Target>;
    const d = rt.proxy<typeof Driver>(driver);
    const oneway = Math.round(2_000_000 * scale);
    const calls = Math.round(1_000_000 * scale);
    console.log(`runtime bench: node ${process.version}, ${rt.threads} worker threads, driver on worker 1, targets on workers 1 and 2`);
    console.log(
      `  offered: ${oneway} one-way messages (2 primitive args, windows of 500, 2 in flight), ${calls} calls (1 caller, or 100 concurrent callers); each row is the median of ${RUNS} runs`,
    );
    // Warm up the code paths so the first row is not JIT time.
    await d.oneway(local, 500_000);
    await d.oneway(remote, 500_000);
    await d.calls(remote, 100_000, 100);
    const median = async (run: () => Promise<Measured>): Promise<Measured> => {
      const results: Measured[] = [];
      for (let i = 0; i < RUNS; i++) results.push(await run());
      return results.sort((a, b) => a.count / a.ms - b.count / b.ms)[RUNS >> 1];
    };
    rows.push({ name: "one-way, same worker", result: await median(() => d.oneway(local, oneway)), unit: "msgs/s", target: 2.7e6 });
    rows.push({ name: "one-way, across workers", result: await median(() => d.oneway(remote, oneway)), unit: "msgs/s", target: 2e6, floor: { label: "ring, spin", rate: floor.oneway.rate } });
    rows.push({ name: "call, same worker, 1 caller", result: await median(() => d.calls(local, calls, 1)), unit: "calls/s", target: 1.3e6 });
    rows.push({ name: "call, across workers, 1 caller", result: await median(() => d.calls(remote, Math.round(calls / 10), 1)), unit: "calls/s", target: 2e5, floor: { label: "setImmediate poll", rate: floor.immediate.rate } });
    rows.push({ name: "call, same worker, 100 callers", result: await median(() => d.calls(local, calls, 100)), unit: "calls/s", target: 0 });
    rows.push({ name: "call, across workers, 100 callers", result: await median(() => d.calls(remote, calls, 100)), unit: "calls/s", target: 7e5, floor: { label: "100 in flight, spin", rate: floor.pipelined.rate } });
  } finally {
    await rt.stop();
  }
  for (const { name, result, unit, target, floor } of rows) {
    const rate = result.count / (result.ms / 1000);
    const latency =
      result.p50 === undefined ? `  ${((result.ms * 1e6) / result.count).toFixed(0)} ns/msg` : `  p50 ${result.p50.toFixed(1)} µs  p99 ${result.p99!.toFixed(1)} µs`;
    const goal = target ? `  (target ${fmt(target)}: ${rate >= target ? "met" : "missed"})` : "";
    const against = floor ? `${(latency + goal).padEnd(48)}  floor (${floor.label}) ${fmt(floor.rate)}, ${(rate / floor.rate).toPrecision(2)}×` : latency + goal;
    console.log(`  ${name.padEnd(36)} ${String(result.count).padStart(8)} in ${result.ms.toFixed(0).padStart(5)} ms  ${fmt(rate).padStart(7)} ${unit}${against}`);
  }
  const rate = (i: number) => fmt(rows[i].result.count / (rows[i].result.ms / 1000));
  console.log(
    `runtime: one-way ${rate(0)}/s same worker, ${rate(1)}/s across; call ${rate(2)}/s same worker, ${rate(3)}/s across (1 caller), ${rate(5)}/s across (100 callers)`,
  );
  return rows;
}


if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 1)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
