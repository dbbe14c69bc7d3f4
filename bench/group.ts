/**
 * Group benchmark: one room (lib/group) holding 1,000 client connections of one gate, on the
 * same worker, broadcasting packets; the clients are a separate process (bench/receivers.ts)
 * on the same cores, counting every packet. Reports packets delivered per second, from the
 * first byte the clients saw to the last packet.
 *
 *   node dist/bench/group.js [scale]
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Runtime, type Address } from "weft";
import type { Received } from "./receivers.js";
import type Room from "./services/bench_room.js";
import { rate as fmt } from "./format.js";

const servicePath = fileURLToPath(new URL("./services/", import.meta.url));
const receivers = fileURLToPath(new URL("./receivers.js", import.meta.url));
const CLIENTS = 1000;
const SIZE = 64;
const WINDOW = 16;

export async function main(scale = 1): Promise<Received & { rate: number }> {
  const broadcasts = Math.max(10, Math.round(500 * scale));
  const rt = await Runtime.start({ thread: 2, servicePath, start: null, logger: null });
  try {
    const room = (await rt.newServiceOn(1, "bench_room")) as Address<typeof Room>;
    const { port } = (await rt.call(room, "open")) as { port: number };
    console.log(`group bench: node ${process.version}, ${rt.threads} worker threads, room and gate on worker 1, ${CLIENTS} clients in another process`);
    console.log(`  offered: ${broadcasts} broadcasts of ${SIZE} B to ${CLIENTS} members (${WINDOW} broadcasts in flight) = ${broadcasts * CLIENTS} packets`);
    const child = spawn(process.execPath, [receivers, String(port), String(CLIENTS), String(broadcasts), String(SIZE)], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    if ((await lines.next()).value !== "ready") throw new Error("the receivers did not connect");
    // The room hears of each connection through the gate: wait until it has all of them.
    while ((await rt.call(room, "count")) < CLIENTS) await new Promise((r) => setTimeout(r, 20));
    const startedAt = performance.timeOrigin + performance.now();
    const sent = await rt.call(room, "blast", broadcasts, SIZE, WINDOW);
    const received = JSON.parse((await lines.next()).value as string) as Received;
    // From the first broadcast to the last packet received: the clients' own view is shorter.
    const wallMs = received.lastAt - startedAt;
    const rate = received.packets / (wallMs / 1000);
    console.log(`  room handed ${sent.written} packets to the gate in ${sent.ms.toFixed(0)} ms (${fmt(sent.written / (sent.ms / 1000))}/s)`);
    console.log(`  clients received ${received.packets}/${broadcasts * CLIENTS} packets (${received.bad} malformed), the last ${wallMs.toFixed(0)} ms after the first broadcast`);
    console.log(`group: broadcast to ${CLIENTS} clients delivered ${fmt(rate)} packets/s`);
    return { ...received, rate };
  } finally {
    await rt.stop();
  }
}


if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 1)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
