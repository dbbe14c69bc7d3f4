/**
 * Runtime benchmark: one-way sends and call round trips, within one worker and across workers,
 * through the real runtime (Runtime.start, real worker threads).
 *
 *   node dist/bench/runtime.js [count]
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { Runtime, type Address } from "weft";
import type Driver from "./services/bench_driver.js";
import type { Measured } from "./services/bench_driver.js";
import type Target from "./services/bench_target.js";

const servicePath = fileURLToPath(new URL("./services/", import.meta.url));

interface Row {
  name: string;
  result: Measured;
  unit: string;
  target: number;
}

export async function main(scale = 1): Promise<Row[]> {
  const rt = await Runtime.start({ thread: 2, servicePath, start: null, logger: null });
  const rows: Row[] = [];
  try {
    const driver = (await rt.newServiceOn(1, "bench_driver")) as Address<typeof Driver>;
    const local = (await rt.newServiceOn(1, "bench_target")) as Address<typeof Target>;
    const remote = (await rt.newServiceOn(2, "bench_target")) as Address<typeof Target>;
    const d = rt.proxy<typeof Driver>(driver);
    const oneway = Math.round(2_000_000 * scale);
    const calls = Math.round(1_000_000 * scale);
    const many = Math.round(1_000_000 * scale);
    console.log(`runtime bench: node ${process.version}, ${rt.threads} worker threads, driver on worker 1, targets on workers 1 and 2`);
    console.log(`  offered: ${oneway} one-way messages (2 primitive args, windows of 500), ${calls} sequential calls, ${many} calls from 100 concurrent callers`);
    // Warm up the code paths so the first row is not JIT time.
    await d.oneway(local, 200_000);
    await d.calls(remote, 50_000, 100);
    rows.push({ name: "one-way, same worker", result: await d.oneway(local, oneway), unit: "msgs/s", target: 4e6 });
    rows.push({ name: "one-way, across workers", result: await d.oneway(remote, oneway, 500, 4), unit: "msgs/s", target: 2e6 });
    rows.push({ name: "call, same worker, 1 caller", result: await d.calls(local, calls, 1), unit: "calls/s", target: 1e6 });
    rows.push({ name: "call, across workers, 1 caller", result: await d.calls(remote, Math.round(calls / 10), 1), unit: "calls/s", target: 0 });
    rows.push({ name: "call, same worker, 100 callers", result: await d.calls(local, many, 100), unit: "calls/s", target: 0 });
    rows.push({ name: "call, across workers, 100 callers", result: await d.calls(remote, many, 100), unit: "calls/s", target: 4e5 });
  } finally {
    await rt.stop();
  }
  for (const { name, result, unit, target } of rows) {
    const rate = result.count / (result.ms / 1000);
    const latency = result.p50 === undefined ? "" : `  p50 ${result.p50.toFixed(1)} µs  p99 ${result.p99!.toFixed(1)} µs`;
    const goal = target ? `  (target ${fmt(target)}: ${rate >= target ? "met" : "missed"})` : "";
    console.log(`  ${name.padEnd(36)} ${String(result.count).padStart(8)} in ${result.ms.toFixed(0).padStart(5)} ms  ${fmt(rate).padStart(7)} ${unit}${latency}${goal}`);
  }
  const rate = (i: number) => fmt(rows[i].result.count / (rows[i].result.ms / 1000));
  console.log(
    `runtime: one-way ${rate(0)}/s same worker, ${rate(1)}/s across; call ${rate(2)}/s same worker, ${rate(3)}/s across (1 caller), ${rate(5)}/s across (100 callers)`,
  );
  return rows;
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 1)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
