/**
 * The echo server of examples/echo (DESIGN.md, "The echo server"): gate → agent → gate through
 * the real runtime, every packet written back byte for byte. Many clients at once, and a seeded
 * fuzz test of random payloads cut into random chunks (WEFT_FUZZ_SEED=n replays a run).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFailed } from "vitest";
import type { Runtime } from "weft";
import type Watchdog from "../examples/echo/watchdog.js";
import { logFile, seededRandom, startRuntime } from "./helpers.js";
import { digest, frames, NetClient, pattern, within } from "./net-client.js";

const echoDir = fileURLToPath(new URL("../dist/examples/echo/", import.meta.url));

/** The echo example's watchdog and gate, listening on a free port. */
async function echoServer(maxclient = 1024): Promise<{ rt: Runtime; port: number }> {
  // 100,000 packets pipelined may leave the gate's mailbox past the "may overload" mark: log to a file.
  const rt = await startRuntime({ servicePath: echoDir, logger: logFile().path });
  const watchdog = await rt.newService<typeof Watchdog>("watchdog");
  const { port } = await rt.call(watchdog, "start", { port: 0, maxclient, nodelay: true, backlog: 1024 });
  return { rt, port };
}

/** Resolves once no service named `name` is left; each look is a call, so this never spins idle. */
async function noneLeft(rt: Runtime, name: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = (await rt.list()).filter((s) => s.name === name).length;
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${left} "${name}" services still alive after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


describe("the echo example", () => {
  it("starts from its config (port 0, maxclient), logs where it listens and echoes", async () => {
    const log = logFile();
    await startRuntime({ servicePath: echoDir, start: "main", logger: log.path, port: 0, maxclient: 2 });
    const line = await log.waitFor(/Echo server listening on 127\.0\.0\.1:\d+/);
    const port = Number(/:(\d+)$/.exec(line)![1]);

    const first = await NetClient.connect(port);
    const second = await NetClient.connect(port);
    await first.send("hello", "");
    await second.send("world");
    expect(await first.waitPackets(2)).toEqual([Buffer.from("hello"), Buffer.alloc(0)]);
    expect(await second.waitPackets(1)).toEqual([Buffer.from("world")]);

    const third = await NetClient.connect(port);
    await third.send("one too many").catch(() => undefined);
    await within(third.closed, 2000, "the connection past maxclient 2 was not closed");
    expect(third.packets).toEqual([]);
  });

  it("answers every packet a client sent before its FIN, then ends the connection", async () => {
    const { port } = await echoServer();
    const client = await NetClient.connect(port);
    // The packets fill Node's 64 KiB read exactly and the FIN follows: the gate (which reads
    // nothing before the agent is there) meets the data and the end of the stream in one turn.
    const payloads = Array.from({ length: 64 }, (_, i) => pattern(1022, i));
    const bytes = frames(payloads);
    expect(bytes.length).toBe(65536);
    client.socket.end(bytes);

    expect(await client.waitPackets(64)).toEqual(payloads);
    await within(client.ended, 2000, "the gate did not end the connection after the client's FIN");
  });

  it("answers a burst that makes the scheduler yield, sent with FIN, before it ends the connection", async () => {
    const { port } = await echoServer();
    const client = await NetClient.connect(port);
    // 20,000 packets are 40,000 messages through the runtime: more than one turn's budget.
    const payloads = Array.from({ length: 20_000 }, (_, i) => Buffer.from([i & 0xff]));
    client.socket.end(frames(payloads));

    expect(await client.waitPackets(payloads.length)).toEqual(payloads);
    await within(client.ended, 5000, "the gate did not end the connection after the client's FIN");
  });

  it("echoes 100 packets byte for byte to each of 1,000 concurrent clients, then ends their agents", async () => {
    const CLIENTS = 1000;
    const PACKETS = 100;
    const { rt, port } = await echoServer(CLIENTS);
    const payloads = (i: number) => Array.from({ length: PACKETS }, (_, j) => pattern((i * 7 + j * 13) % 97, i * PACKETS + j));

    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => NetClient.connect(port)));
    // Pipelined: each client sends its packets in four writes without waiting for any echo.
    for (const [i, client] of clients.entries()) {
      const sent = payloads(i);
      for (let k = 0; k < PACKETS; k += 25) void client.send(...sent.slice(k, k + 25));
    }
    const wrong: string[] = [];
    await Promise.all(
      clients.map(async (client, i) => {
        const got = await client.waitPackets(PACKETS, 30_000);
        const sent = payloads(i);
        got.forEach((p, j) => p.equals(sent[j]!) || wrong.push(`client ${i} packet ${j}: ${p.length} bytes, sent ${sent[j]!.length}`));
        if (client.bytesReceived !== frames(sent).length) wrong.push(`client ${i}: ${client.bytesReceived} bytes received, ${frames(sent).length} sent`);
      }),
    );
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(clients.every((c) => c.packets.length === PACKETS)).toBe(true);

    expect((await rt.list()).filter((s) => s.name === "agent")).toHaveLength(CLIENTS);
    for (const client of clients) client.end();
    await noneLeft(rt, "agent");
  });

  const seed = Number(process.env.WEFT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
  it(`reassembles random payloads cut into random chunks byte-exact, 8 clients at once (seed ${seed})`, async () => {
    onTestFailed(() => console.error(`echo fuzz failed with seed ${seed}: WEFT_FUZZ_SEED=${seed} npx vitest run test/echo.test.ts`));
    const rand = seededRandom(seed);
    const int = (max: number) => Math.floor(rand() * (max + 1));
    const size = (): number => {
      const r = rand();
      if (r < 0.05) return 0;
      if (r < 0.08) return 65535;
      if (r < 0.7) return int(64);
      if (r < 0.95) return int(4096);
      return int(65535);
    };
    const cut = (): number => [1, 2, 3, 1 + int(64), 1 + int(4096), 1 + int(70_000)][int(5)]!;

    const { port } = await echoServer();
    const runs = Array.from({ length: 8 }, () => {
      const payloads = Array.from({ length: 60 + int(90) }, () => {
        const p = Buffer.allocUnsafe(size());
        for (let i = 0; i < p.length; i++) p[i] = int(255);
        return p;
      });
      const chunks: Buffer[] = [];
      const bytes = frames(payloads);
      for (let off = 0; off < bytes.length; ) {
        const n = Math.min(cut(), bytes.length - off);
        chunks.push(bytes.subarray(off, off + n));
        off += n;
      }
      return { payloads, chunks, pauses: chunks.map(() => rand() < 0.3) };
    });

    await Promise.all(
      runs.map(async ({ payloads, chunks, pauses }) => {
        const client = await NetClient.connect(port);
        for (const [k, chunk] of chunks.entries()) {
          const written = client.write(chunk);
          // Sometimes let the chunk leave on its own before the next one, so reads end mid-packet.
          if (pauses[k]) await written;
        }
        expect(digest(await client.waitPackets(payloads.length, 20_000))).toEqual(digest(payloads));
        expect(client.bytesReceived).toBe(frames(payloads).length);
      }),
    );
  });
});
