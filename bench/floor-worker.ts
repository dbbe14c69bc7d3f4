/**
 * One of the floor benchmark's two threads (see floor.ts). Each message from the parent names
 * a measurement, this thread's side of it ("a" starts and times it, "b" answers) and the
 * SharedArrayBuffer they share; the reply is the figures ("a") or nothing ("b").
 */
import { parentPort } from "node:worker_threads";
import { performance } from "node:perf_hooks";

export type Kind = "spin" | "blocking" | "immediate" | "oneway" | "pipelined";

export interface Command {
  kind: Kind;
  side: "a" | "b";
  sab: SharedArrayBuffer;
  count: number;
}

export interface Figures {
  ms: number;
  p50?: number;
  p99?: number;
}

// Int32 indices in the buffer. Each hot word has a 64-byte cache line of its own, so the two
// threads do not slow each other by writing neighbours.
const READY = 0;
const REQ = 16;
const REP = 32;
/** Where the rings start (bytes), one per direction, and their size. */
export const RING_A = 256;
export const RING_SLOTS = 1024;
/** Int32 words per record: 6 words, 24 bytes. */
export const WORDS = 6;
const RING_BYTES = 128 + RING_SLOTS * WORDS * 4;
export const RING_B = RING_A + RING_BYTES;
export const BUFFER_BYTES = RING_B + RING_BYTES;
export const IN_FLIGHT = 100;
/**
 * The one-way producer publishes every this many records: a store per record has the two cores
 * fight over the head's cache line (a few M/s here), and weft too publishes a batch per write.
 */
export const BATCH = 64;
/** Every 16th round trip is timed, as bench_driver.ts does. */
const SAMPLE = 15;

/** A single-producer single-consumer ring of fixed-size records: head and tail count records. */
class Ring {
  readonly ctl: Int32Array;
  readonly data: Int32Array;
  /** The side's own index (head for the producer, tail for the consumer), and its view of the other's. */
  mine = 0;
  theirs = 0;
  constructor(sab: SharedArrayBuffer, at: number) {
    this.ctl = new Int32Array(sab, at, 32); // head at [0], tail at [16]
    this.data = new Int32Array(sab, at + 128, RING_SLOTS * WORDS);
  }
  /** Producer: room for one more record, reading the consumer's tail only when the cached one says full. */
  room(): boolean {
    if (this.mine - this.theirs < RING_SLOTS) return true;
    this.theirs = Atomics.load(this.ctl, 16);
    return this.mine - this.theirs < RING_SLOTS;
  }
  /** Producer: write a record; the consumer sees it at the next publish. */
  push(seq: number, a: number): void {
    const o = (this.mine & (RING_SLOTS - 1)) * WORDS;
    const d = this.data;
    d[o] = seq;
    d[o + 1] = a;
    d[o + 2] = 0;
    d[o + 3] = 0;
    d[o + 4] = 0;
    d[o + 5] = 0;
    this.mine++;
  }
  publish(): void {
    Atomics.store(this.ctl, 0, this.mine);
  }
  /** Consumer: how many records are ready. */
  ready(): number {
    this.theirs = Atomics.load(this.ctl, 0);
    return this.theirs - this.mine;
  }
  /** Consumer: the next record's sequence number, checked so a broken ring cannot pass unseen. */
  take(): number {
    const o = (this.mine & (RING_SLOTS - 1)) * WORDS;
    const seq = this.data[o];
    if (seq !== this.mine) throw new Error(`ring: record ${this.mine} read as ${seq}`);
    this.mine++;
    return this.data[o + 1];
  }
  /** Consumer: hand the slots read so far back, once per batch. */
  release(): void {
    Atomics.store(this.ctl, 16, this.mine);
  }
}

function percentiles(samples: Float64Array, n: number): { p50: number; p99: number } {
  const sorted = samples.subarray(0, n).sort();
  const at = (q: number) => sorted[Math.min(n - 1, Math.floor(n * q))];
  return { p50: at(0.5), p99: at(0.99) };
}

function spin(i32: Int32Array, side: "a" | "b", count: number): Figures | undefined {
  if (side === "b") {
    for (let i = 1; i <= count; i++) {
      while (Atomics.load(i32, REQ) !== i);
      Atomics.store(i32, REP, i);
    }
    return;
  }
  const samples = new Float64Array((count >> 4) + 1);
  let n = 0;
  const start = performance.now();
  for (let i = 1; i <= count; i++) {
    if ((i & SAMPLE) === 0) {
      const t0 = performance.now();
      Atomics.store(i32, REQ, i);
      while (Atomics.load(i32, REP) !== i);
      samples[n++] = (performance.now() - t0) * 1000;
    } else {
      Atomics.store(i32, REQ, i);
      while (Atomics.load(i32, REP) !== i);
    }
  }
  return { ms: performance.now() - start, ...percentiles(samples, n) };
}

function blocking(i32: Int32Array, side: "a" | "b", count: number): Figures | undefined {
  if (side === "b") {
    for (let i = 1; i <= count; i++) {
      while (Atomics.load(i32, REQ) !== i) Atomics.wait(i32, REQ, i - 1);
      Atomics.store(i32, REP, i);
      Atomics.notify(i32, REP);
    }
    return;
  }
  const samples = new Float64Array((count >> 4) + 1);
  let n = 0;
  const start = performance.now();
  for (let i = 1; i <= count; i++) {
    const t0 = (i & SAMPLE) === 0 ? performance.now() : 0;
    Atomics.store(i32, REQ, i);
    Atomics.notify(i32, REQ);
    while (Atomics.load(i32, REP) !== i) Atomics.wait(i32, REP, i - 1);
    if (t0) samples[n++] = (performance.now() - t0) * 1000;
  }
  return { ms: performance.now() - start, ...percentiles(samples, n) };
}

/** Both sides look once per event-loop turn, as a thread that must keep its loop running can. */
function immediate(i32: Int32Array, side: "a" | "b", count: number): Promise<Figures | undefined> {
  return new Promise((resolve) => {
    let i = 1;
    if (side === "b") {
      const poll = () => {
        if (Atomics.load(i32, REQ) === i) {
          Atomics.store(i32, REP, i);
          if (++i > count) return resolve(undefined);
        }
        setImmediate(poll);
      };
      return poll();
    }
    const samples = new Float64Array((count >> 4) + 1);
    let n = 0;
    let t0 = 0;
    const start = performance.now();
    const send = () => {
      if ((i & SAMPLE) === 0) t0 = performance.now();
      Atomics.store(i32, REQ, i);
      setImmediate(poll);
    };
    const poll = () => {
      if (Atomics.load(i32, REP) !== i) return setImmediate(poll);
      if ((i & SAMPLE) === 0) samples[n++] = (performance.now() - t0) * 1000;
      if (++i > count) return resolve({ ms: performance.now() - start, ...percentiles(samples, n) });
      send();
    };
    send();
  });
}

function oneway(sab: SharedArrayBuffer, side: "a" | "b", count: number): Figures | undefined {
  const ring = new Ring(sab, RING_A);
  if (side === "b") {
    let sum = 0;
    while (ring.mine < count) {
      const k = ring.ready();
      for (let j = 0; j < k; j++) sum += ring.take();
      if (k > 0) ring.release();
    }
    if (sum !== count) throw new Error(`oneway: counted ${sum} of ${count}`);
    return;
  }
  const start = performance.now();
  while (ring.mine < count) {
    for (let k = Math.min(BATCH, count - ring.mine); k > 0 && ring.room(); k--) ring.push(ring.mine, 1);
    ring.publish();
  }
  // Done when the consumer has read everything, as the weft row ends on its last sync.
  while (Atomics.load(ring.ctl, 16) !== count);
  return { ms: performance.now() - start };
}

function pipelined(sab: SharedArrayBuffer, side: "a" | "b", count: number): Figures | undefined {
  const requests = new Ring(sab, RING_A);
  const replies = new Ring(sab, RING_B);
  if (side === "b") {
    while (requests.mine < count) {
      const k = requests.ready();
      if (k === 0) continue;
      // No room check: at most IN_FLIGHT replies are ever unread, fewer than the ring holds.
      for (let j = 0; j < k; j++) replies.push(replies.mine, requests.take());
      replies.publish();
      requests.release();
    }
    return;
  }
  const start = performance.now();
  while (replies.mine < count) {
    const before = requests.mine;
    while (requests.mine < count && requests.mine - replies.mine < IN_FLIGHT) requests.push(requests.mine, requests.mine);
    if (requests.mine !== before) requests.publish();
    const k = replies.ready();
    for (let j = 0; j < k; j++) replies.take();
    if (k > 0) replies.release();
  }
  return { ms: performance.now() - start };
}

// floor.ts imports the layout from here too, on the main thread, where there is no parent.
parentPort?.on("message", async ({ kind, side, sab, count }: Command) => {
  const i32 = new Int32Array(sab);
  // "a" starts the clock only once "b" is listening, so start-up is not timed.
  if (side === "b") {
    Atomics.store(i32, READY, 1);
    Atomics.notify(i32, READY);
  } else {
    Atomics.wait(i32, READY, 0);
  }
  const figures =
    kind === "spin"
      ? spin(i32, side, count)
      : kind === "blocking"
        ? blocking(i32, side, count)
        : kind === "immediate"
          ? await immediate(i32, side, count)
          : kind === "oneway"
            ? oneway(sab, side, count)
            : pipelined(sab, side, count);
  parentPort!.postMessage(figures ?? null);
});
