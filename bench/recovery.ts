/**
 * How long a node takes to recover a worker stuck in an endless loop: from the looping message
 * to the callers' WorkerLostError (the worker terminated past `stuckWorker`), and to the
 * permanent service that lived there answering again from the replacement worker.
 *
 *   node dist/bench/recovery.js [rounds]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Runtime, type Handle } from "weft";

const servicePath = fileURLToPath(new URL("./services/", import.meta.url));

export async function main(rounds = 3): Promise<void> {
  const endlessLoop = 1000;
  const stuckWorker = 3000;
  const rt = await Runtime.start({ thread: 2, servicePath, start: null, logger: join(mkdtempSync(join(tmpdir(), "weft-recovery-")), "log"), endlessLoop, stuckWorker, restartIntensity: 100 });
  try {
    console.log(`recovery bench: ${rt.threads} worker threads, endlessLoop ${endlessLoop} ms, stuckWorker ${stuckWorker} ms, ${rounds} rounds`);
    const lost: number[] = [];
    const back: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await rt.newServiceWith({ restart: "permanent", worker: 2, unique: true }, "bench_stuck");
      const permanent = (await rt.uniqueService("bench_stuck")) as Handle;
      const looper = await rt.newServiceOn(2, "bench_stuck");
      const began = performance.now();
      const failed = rt.call(looper, "whoami").catch(() => performance.now());
      rt.send(looper, "loop");
      // The call above went in before the loop: it is answered. One behind the loop waits for the end.
      await failed;
      const waiting = rt.call(permanent, "whoami").then(
        () => NaN,
        () => performance.now(),
      );
      lost.push((await waiting) - began);
      for (;;) {
        const now = (await rt.uniqueService("bench_stuck")) as Handle;
        if (now !== permanent && (await rt.call(now, "whoami").then(() => true, () => false))) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      back.push(performance.now() - began);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`  callers failed with WorkerLostError after: ${lost.map((ms) => ms.toFixed(0)).join(", ")} ms`);
    console.log(`  the permanent service answered again after: ${back.map((ms) => ms.toFixed(0)).join(", ")} ms`);
    console.log(`summary: a stuck worker recovered in ${median(back).toFixed(0)} ms (median) with stuckWorker ${stuckWorker} ms: ${(median(back) - stuckWorker).toFixed(0)} ms past the limit`);
  } finally {
    await rt.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(Number(process.argv[2]) || 3);
