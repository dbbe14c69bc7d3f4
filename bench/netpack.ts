/**
 * netpack throughput, and a check that reassembly is linear: a packet arriving one byte at a
 * time should cost twice as much at twice the size, not four times. A naive framer that
 * Buffer.concat()s every read is timed alongside as the quadratic baseline.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/netpack.js
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { netpack } from "weft";

const RUNS = 15;

/** Median of `runs` timed runs (after two warm-ups), in milliseconds. */
function time(run: () => unknown, runs = RUNS): number {
  run();
  run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[runs >> 1]!;
}

function drain(queue: netpack.NetpackQueue, result: netpack.FilterResult | undefined): number {
  if (result === undefined) return 0;
  if (result.type === "data") return 1;
  let n = 0;
  while (netpack.pop(queue) !== undefined) n++;
  return n;
}

/** Cut up before timing, so the timed loop measures netpack and not the caller's slicing. */
function split(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < stream.length; off += size) out.push(stream.subarray(off, off + size));
  return out;
}

/** What netpack avoids: keep the unread tail and concat each read onto it. */
function feedBytesNaive(frame: Buffer): number {
  let pending = Buffer.alloc(0);
  let n = 0;
  for (let i = 0; i < frame.length; i++) {
    pending = Buffer.concat([pending, frame.subarray(i, i + 1)]);
    if (pending.length >= 2 && pending.length - 2 >= pending.readUInt16BE(0)) n++;
  }
  return n;
}

function feedChunks(chunks: Buffer[]): number {
  const queue = netpack.createQueue();
  let n = 0;
  for (const data of chunks) n += drain(queue, netpack.filter(queue, { type: "data", fd: 1, data }));
  return n;
}

/** A benchmark that lost packets would be measuring the wrong thing. */
function check(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: delivered ${got} packets, expected ${want}`);
}

const frames = (count: number, size: number): Buffer =>
  Buffer.concat(Array.from({ length: count }, (_, i) => netpack.pack(Buffer.alloc(size, i & 0xff))));

const mbps = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(1);
const mpps = (packets: number, ms: number) => (packets / 1e6 / (ms / 1e3)).toFixed(2);
const fmt = (t: number) => `${t.toFixed(2)} ms`;

export async function main(): Promise<void> {
  console.log(`netpack bench: node ${process.version}, median of ${RUNS} runs after 2 warm-ups`);

  const small = netpack.pack(Buffer.alloc(32 * 1024, 7));
  const large = netpack.pack(Buffer.alloc(65535, 7));
  const smallBytes = split(small, 1);
  const largeBytes = split(large, 1);
  check("(a)", feedChunks(smallBytes) + feedChunks(largeBytes) + feedBytesNaive(small) + feedBytesNaive(large), 4);
  // Warm the JIT on both sizes first, so the 32 KiB run is not timed against colder code.
  for (let i = 0; i < 5; i++) feedChunks(smallBytes), feedChunks(largeBytes);
  const aSmall = time(() => feedChunks(smallBytes));
  const aLarge = time(() => feedChunks(largeBytes));
  const ratio = aLarge / aSmall;
  console.log(`(a) 1 byte per read, 32 KiB packet: ${fmt(aSmall)} (${mbps(small.length, aSmall)} MB/s)`);
  console.log(`(a) 1 byte per read, 64 KiB packet: ${fmt(aLarge)} (${mbps(large.length, aLarge)} MB/s); 64K/32K = ${ratio.toFixed(2)}x (linear ~2x, quadratic ~4x)`);
  // The quadratic baseline is slow by design, so it gets fewer runs.
  const nSmall = time(() => feedBytesNaive(small), 3);
  const nLarge = time(() => feedBytesNaive(large), 3);
  console.log(`    baseline (median of 3), Buffer.concat per read: 32 KiB ${fmt(nSmall)}, 64 KiB ${fmt(nLarge)}; 64K/32K = ${(nLarge / nSmall).toFixed(2)}x`);

  const count = 10_000;
  const chunk = frames(count, 64);
  check("(b)", feedChunks([chunk]), count);
  const b = time(() => feedChunks([chunk]));
  console.log(`(b) ${count} x 64-byte packets in one ${chunk.length}-byte chunk: ${fmt(b)} (${mpps(count, b)} M packets/s)`);

  const perMiB = Math.ceil((1024 * 1024) / 66);
  const stream = frames(perMiB, 64);
  const chunks = split(stream, 1500);
  check("(c)", feedChunks(chunks), perMiB);
  const c = time(() => feedChunks(chunks));
  console.log(`(c) ${(stream.length / 1048576).toFixed(2)} MiB = ${perMiB} x 64-byte packets in ${chunks.length} 1500-byte chunks: ${fmt(c)} (${mbps(stream.length, c)} MB/s, ${mpps(perMiB, c)} M packets/s)`);

  console.log(
    `netpack: byte-at-a-time 64K/32K ${ratio.toFixed(2)}x (${mbps(large.length, aLarge)} MB/s; concat baseline ${(nLarge / nSmall).toFixed(2)}x), ` +
      `one-chunk ${mpps(count, b)} Mpkt/s, 1500-byte chunks ${mbps(stream.length, c)} MB/s`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
