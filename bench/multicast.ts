/**
 * Multicast benchmark: one publisher on worker 1, 10,000 subscribers spread over 2 workers.
 * Each message is published on a channel (encoded once, one message per worker, a copy per
 * subscriber made by that worker's deliverer); the baseline sends the same message to each
 * subscriber with svc.send (encoded once per subscriber, one message each across threads).
 * A run ends when every subscriber has received every message.
 *
 *   node dist/bench/multicast.js [messages] [subscribers]
 */
import { pack } from "msgpackr";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Runtime, type Address } from "weft";
import type Pub from "./services/mc_bench_pub.js";
import type Sub from "./services/mc_bench_sub.js";
import { rate as fmt } from "./format.js";

const servicePath = fileURLToPath(new URL("./services/", import.meta.url));
const BODY = 64;

export interface MulticastResult {
  subscribers: number;
  messages: number;
  multicast: number;
  baseline: number;
}

export async function main(messages = 100, subscribers = 10_000): Promise<MulticastResult> {
  const rt = await Runtime.start({ thread: 2, servicePath, start: null, logger: null });
  try {
    const pubHandle = (await rt.newServiceOn(1, "mc_bench_pub")) as Address<typeof Pub>;
    const pub = rt.proxy<typeof Pub>(pubHandle);
    const id = await pub.create();
    const subs: Address<typeof Sub>[] = [];
    const launchStart = performance.now();
    for (let i = 0; i < subscribers; i += 250) {
      const n = Math.min(250, subscribers - i);
      subs.push(...(await Promise.all(Array.from({ length: n }, (_, j) => rt.newServiceOn<typeof Sub>(1 + ((i + j) % rt.threads), "mc_bench_sub", id)))));
    }
    const launchMs = performance.now() - launchStart;
    await pub.setSubscribers(subs);
    const perWorker = new Map<number, Address<typeof Sub>[]>();
    for (const s of subs) perWorker.set(s >>> 24, [...(perWorker.get(s >>> 24) ?? []), s]);
    console.log(
      `multicast bench: node ${process.version}, ${rt.threads} worker threads, publisher on worker 1, ${subscribers} subscribers ` +
        `(${[...perWorker].map(([w, list]) => `${list.length} on worker ${w}`).join(", ")}; started and subscribed in ${launchMs.toFixed(0)} ms)`,
    );
    // On the wire: a 4-byte channel id, then the arguments as one msgpack array.
    const bytes = 4 + pack([{ seq: messages, body: "x".repeat(BODY) }]).length;
    console.log(
      `  offered: ${messages} messages of { seq, body: ${BODY} chars } (${bytes} bytes encoded) per run, ${messages * subscribers} deliveries; each row the best of 3 runs`,
    );

    /** One run: resolves when every worker's subscribers have it all. */
    const run = async (send: () => Promise<unknown>): Promise<number> => {
      const done = [...perWorker].map(([, list]) => rt.call(list[0], "arm", messages * list.length));
      const start = performance.now();
      await send();
      await Promise.all(done);
      return performance.now() - start;
    };
    const best = async (send: () => Promise<unknown>): Promise<number> => {
      await run(send); // warm-up
      const times = [await run(send), await run(send), await run(send)];
      return Math.min(...times);
    };
    const deliveries = messages * subscribers;
    const mcMs = await best(() => pub.publish(messages, BODY));
    const baseMs = await best(() => pub.sendEach(messages, BODY));
    const result: MulticastResult = { subscribers, messages, multicast: deliveries / (mcMs / 1000), baseline: deliveries / (baseMs / 1000) };
    const row = (name: string, ms: number, rate: number) =>
      console.log(`  ${name.padEnd(44)} ${String(deliveries).padStart(8)} deliveries in ${ms.toFixed(0).padStart(5)} ms  ${fmt(rate).padStart(7)} deliveries/s`);
    row("multicast publish (encoded once per message)", mcMs, result.multicast);
    row("baseline: svc.send to each subscriber", baseMs, result.baseline);
    console.log(
      `multicast: ${fmt(result.multicast)} deliveries/s to ${subscribers} subscribers on ${rt.threads} workers ` +
        `(${messages} messages), ${(result.multicast / result.baseline).toFixed(1)}× one send per subscriber (${fmt(result.baseline)}/s)`,
    );
    return result;
  } finally {
    await rt.stop();
  }
}


if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 100), Number(process.argv[3] ?? 10_000)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
