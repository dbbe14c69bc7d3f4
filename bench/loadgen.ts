/**
 * The gate benchmark's load generator, run in a process of its own (bench/gate.ts starts it
 * once per scenario and server). It opens `connections` TCP connections to an echo server that
 * speaks the gate's framing (a 2-byte big-endian length, then the payload), keeps `depth`
 * packets of `size` bytes in flight on each (a closed loop: each echo that comes back lets
 * one more packet go), checks every echoed byte, and times every packet from write to echo.
 *
 *   node dist/bench/loadgen.js [--at-once] [--proto echo|watchdog] <host> <port> <connections> <depth> <size> <run> [warmup]
 *
 * `run` is `4s` (send for 4 seconds after `warmup` seconds that are not counted; then stop
 * sending and wait up to 2 s for the packets still in flight) or `5` (every connection sends
 * 5 packets, and the run ends when all have come back, or after 60 s). All connections are
 * open before the first packet is sent, so `connections` of them are open at once, and at most
 * 256 connects are in progress at any time.
 *
 * `--at-once` is a crowd arriving together: every connect is issued in the same turn (no
 * throttle: the server's listen backlog and accept loop take the whole burst), and each
 * connection sends its first packet as soon as it is connected. `ready_s` in the result is the
 * time from the first connect to the moment the last connection got its first echo: how long
 * the server takes to serve a crowd (accept, start an agent, forward). Every mode reports it.
 *
 * `--proto watchdog` speaks the watchdog example's client protocol (examples/proto.ts) instead
 * of raw echo: each packet is the request `[session, "echo", payload]`, whose answer
 * `[session, payload]` is checked as the echo is; pushes (`[0, name, data]`, the heartbeat) are
 * skipped. It costs the load generator a msgpack encode and decode per packet.
 *
 * Each payload is its connection's id (4 bytes), its sequence number on that connection
 * (4 bytes), then a pattern that shifts with the sequence number: a packet echoed to the
 * wrong connection, out of order, truncated or with one byte changed is a mismatch. Payloads
 * under 8 bytes carry only the first bytes of that header.
 *
 * Prints one JSON line, a Result, on stdout.
 */
// Imported, not the global: in Node 20 the global `Buffer` is a getter, a call on every use.
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";

export interface Result {
  connections: number;
  /** Connections that were established. */
  connected: number;
  /** Connections that got every packet they sent back, each byte checked, and saw no error. */
  served: number;
  depth: number;
  size: number;
  /** "duration": packets counts the echoes in the measured window; "count": every echo. */
  mode: "duration" | "count";
  /** Echoes received in the measured window. */
  packets: number;
  seconds: number;
  /** Packets per second in the measured window. */
  rate: number;
  /** Latency from write to echo, of the packets in the window, in µs (1 µs buckets). */
  p50: number;
  p99: number;
  max: number;
  /** mismatches + lost + socketErrors + closed. */
  errors: number;
  /** Echoes whose length or bytes differ from what was sent. */
  mismatches: number;
  /** Packets sent whose echo never came back (before the connection ended or the deadline). */
  lost: number;
  /** Connects that failed and sockets that reported an error. */
  socketErrors: number;
  /** Connections the server closed while packets were still due. */
  closed: number;
  /** Payload bytes compared with what was sent, over the whole run (warm-up included). */
  verifiedBytes: number;
  /** Time to open every connection. */
  connectMs: number;
  /** This process's CPU time (user + system) over the measured window, in ms. */
  cpuMs: number;
  /** `--at-once`: every connect issued together, each connection sending once connected. */
  atOnce: boolean;
  proto: "echo" | "watchdog";
  /** Seconds from the first connect to the last connection's first echo (of those that got one). */
  ready_s: number;
  /** The median connection's time from the first connect to its first echo, in seconds. */
  readyP50_s: number;
  /** Connections that got at least one echo. */
  readyConns: number;
}

/** Connects in progress at once, so the server's listen backlog (Node's default 511) never overflows. */
const CONNECTS_IN_FLIGHT = 256;
const DRAIN_MS = 2000;
const COUNT_DEADLINE_MS = 60_000;
/** Latency buckets of 1 µs, up to 1 s (the last bucket holds everything slower). */
const BUCKETS = 1_000_000;

interface Conn {
  id: number;
  socket: Socket;
  /** Sequence number of the next packet to send. */
  sent: number;
  /** Sequence number of the next echo expected. */
  received: number;
  /** Send time of each packet in flight, at seq % depth (in flight never exceeds depth). */
  times: Float64Array;
  /** The start of a packet cut short by the end of a read. */
  tail: Buffer | undefined;
  connected: boolean;
  failed: boolean;
  done: boolean;
  /** When its first echo came (performance.now()), 0 before. */
  firstEcho: number;
}

function usage(): never {
  console.error("usage: loadgen [--at-once] [--proto echo|watchdog] <host> <port> <connections> <depth> <size> <seconds>s|<packets per connection> [warmup seconds]");
  process.exit(2);
}

function integer(text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) usage();
  return n;
}

const argv = process.argv.slice(2);
const atOnce = takeFlag("--at-once");
const protoText = takeOption("--proto", "echo");
if (protoText !== "echo" && protoText !== "watchdog") usage();
const proto: Result["proto"] = protoText;

function takeFlag(name: string): boolean {
  const at = argv.indexOf(name);
  if (at >= 0) argv.splice(at, 1);
  return at >= 0;
}

function takeOption(name: string, fallback: string): string {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const [, value] = argv.splice(at, 2);
  return value ?? usage();
}

const [host = "", portText, connText, depthText, sizeText, runText = "", warmText] = argv;
if (!host) usage();
const port = integer(portText, 1, 65535);
const connections = integer(connText, 1, 100_000);
const depth = integer(depthText, 1, 65536);
const size = integer(sizeText, 0, 65535);
const mode: Result["mode"] = runText.endsWith("s") ? "duration" : "count";
const duration = mode === "duration" ? Number(runText.slice(0, -1)) * 1000 : 0;
const perConnection = mode === "count" ? integer(runText, 1, 1e9) : Infinity;
const warmup = Number(warmText ?? 0) * 1000;
if (!(duration >= 0) || !(warmup >= 0)) usage();

/**
 * The pattern that follows the 8-byte header: packet `seq` carries PATTERN from offset
 * seq & 255, so neighbouring packets differ in every byte. PATTERN_AT[k] is that stretch for
 * seq & 255 = k, as a view: the load generator shares the cores with the server it measures,
 * so making and checking a packet copies nothing it does not have to.
 */
const PATTERN = Buffer.allocUnsafe(256 + Math.max(0, size - 8));
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 131 + (i >>> 8) * 29 + 7) & 0xff;
const PATTERN_AT = Array.from({ length: 256 }, (_, k) => PATTERN.subarray(k, k + Math.max(0, size - 8)));
const HEADER = Math.min(size, 8);

/** Byte i (0..7) of packet (id, seq)'s header: the id, then the sequence number, big-endian. */
const headerByte = (id: number, seq: number, i: number): number => (i < 4 ? id >>> (24 - 8 * i) : seq >>> (56 - 8 * i)) & 0xff;

/** Writes the payload of packet (id, seq) at `at`. */
function writePayload(out: Buffer, at: number, id: number, seq: number): void {
  for (let i = 0; i < HEADER; i++) out[at + i] = headerByte(id, seq, i);
  if (size > 8) out.set(PATTERN_AT[seq & 255]!, at + 8);
}

/** Whether the `size` bytes at `at` are packet (id, seq)'s payload. */
function isPayload(data: Buffer, at: number, id: number, seq: number): boolean {
  for (let i = 0; i < HEADER; i++) if (data[at + i] !== headerByte(id, seq, i)) return false;
  return size <= 8 || data.compare(PATTERN_AT[seq & 255]!, 0, size - 8, at + 8, at + size) === 0;
}

const histogram = new Uint32Array(BUCKETS);
let measuring = false;
let stopping = false;
let packets = 0;
let mismatches = 0;
let socketErrors = 0;
let closed = 0;
let verifiedBytes = 0;
let maxLatency = 0;
const conns: Conn[] = [];
/** Connections still expecting echoes; the run ends when it reaches 0. */
let active = 0;
let finish: () => void = () => {};

/** The example's client protocol (examples/proto.ts): msgpack arrays, no records. */
const packr = new Packr({ useRecords: false });
/** The payload of the packet being made, for --proto watchdog (packed into a request after). */
const scratch = Buffer.allocUnsafe(size);

function send(c: Conn, count: number): void {
  if (count <= 0 || c.failed) return;
  const now = performance.now();
  if (proto === "watchdog") {
    const frames: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const seq = c.sent++;
      writePayload(scratch, 0, c.id, seq);
      const request = packr.pack([seq + 1, "echo", scratch]);
      const header = Buffer.allocUnsafe(2);
      header.writeUInt16BE(request.length);
      frames.push(header, request);
      c.times[seq % depth] = now;
    }
    c.socket.write(Buffer.concat(frames));
    return;
  }
  const frame = size + 2;
  // The packets a read made room for leave in one write, as a pipelining client's would.
  const out = Buffer.allocUnsafe(count * frame);
  for (let i = 0, off = 0; i < count; i++, off += frame) {
    const seq = c.sent++;
    out[off] = size >>> 8;
    out[off + 1] = size & 0xff;
    writePayload(out, off + 2, c.id, seq);
    c.times[seq % depth] = now;
  }
  c.socket.write(out);
}

/**
 * Whether the frame at `start` (`len` bytes) is the echo of packet `seq`; undefined for a
 * push of the watchdog example (the heartbeat), which is no echo at all.
 */
function isEcho(data: Buffer, start: number, len: number, id: number, seq: number): boolean | undefined {
  if (proto === "echo") return len === size && isPayload(data, start, id, seq);
  let answer: unknown;
  try {
    answer = packr.unpack(data.subarray(start, start + len));
  } catch {
    return false;
  }
  if (!Array.isArray(answer)) return false;
  if (answer[0] === 0) return undefined;
  const bytes = answer[1] as unknown;
  return answer[0] === seq + 1 && bytes instanceof Uint8Array && bytes.length === size && isPayload(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 0, id, seq);
}

function settle(c: Conn): void {
  if (c.done) return;
  c.done = true;
  active--;
  if (active === 0) finish();
}

function fail(c: Conn, why: "error" | "closed"): void {
  if (c.failed || c.done) return;
  c.failed = true;
  if (why === "error") socketErrors++;
  else closed++;
  c.socket.destroy();
  settle(c);
}

function onData(c: Conn, chunk: Buffer): void {
  const data = c.tail === undefined ? chunk : Buffer.concat([c.tail, chunk]);
  c.tail = undefined;
  const now = performance.now();
  let off = 0;
  let got = 0;
  while (data.length - off >= 2) {
    const len = (data[off]! << 8) | data[off + 1]!;
    const start = off + 2;
    if (data.length - start < len) break;
    off = start + len;
    const seq = c.received;
    // A push (the watchdog example's heartbeat) may come while nothing is in flight.
    const echo = isEcho(data, start, len, c.id, seq);
    if (echo === undefined) continue; // a push, not an answer
    got++;
    c.received++;
    if (c.firstEcho === 0) c.firstEcho = now;
    if (seq >= c.sent) {
      mismatches++; // an echo of something never sent
      continue;
    }
    if (!echo) mismatches++;
    else verifiedBytes += size;
    if (measuring) {
      packets++;
      const us = (now - c.times[seq % depth]!) * 1000;
      if (us > maxLatency) maxLatency = us;
      histogram[Math.min(BUCKETS - 1, Math.floor(us))]!++;
    }
  }
  if (off < data.length) c.tail = data.subarray(off);
  if (c.received >= c.sent && (stopping || c.sent >= perConnection)) {
    settle(c);
    return;
  }
  if (!stopping) send(c, Math.min(got, perConnection - c.sent));
}

function percentile(p: number, total: number): number {
  if (total === 0) return 0;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return i + 0.5;
  }
  return BUCKETS;
}

/** When the first connect was issued: `ready_s` counts from here. */
let firstConnect = 0;

/**
 * Opens every connection: at most CONNECTS_IN_FLIGHT connects in progress, or with --at-once
 * all of them issued now, each connection sending its first packets as soon as it is connected.
 * Resolves once every connect has succeeded or failed, with the time that took.
 */
async function open(): Promise<number> {
  const started = performance.now();
  firstConnect = started;
  let next = 0;
  await new Promise<void>((resolve) => {
    let settled = 0;
    const one = (): void => {
      if (next >= connections) return;
      const id = next++;
      const socket = connect({ host, port, noDelay: true });
      const c: Conn = { id, socket, sent: 0, received: 0, times: new Float64Array(depth), tail: undefined, connected: false, failed: false, done: false, firstEcho: 0 };
      conns.push(c);
      const after = (): void => {
        if (++settled === connections) resolve();
        else if (!atOnce) one();
      };
      socket.once("connect", () => {
        c.connected = true;
        if (atOnce) send(c, Math.min(depth, perConnection));
        after();
      });
      socket.on("data", (chunk: Buffer) => onData(c, chunk));
      socket.on("error", () => {
        if (!c.connected) {
          c.failed = true;
          socketErrors++;
          // With --at-once the run is under way: this one will send nothing.
          if (atOnce) settle(c);
          after();
        } else fail(c, "error");
      });
      socket.on("close", () => {
        if (c.connected) fail(c, "closed");
      });
    };
    for (let i = 0; i < (atOnce ? connections : Math.min(CONNECTS_IN_FLIGHT, connections)); i++) one();
  });
  return performance.now() - started;
}

async function main(): Promise<void> {
  const ended = new Promise<void>((resolve) => (finish = resolve));
  let t0 = performance.now();
  let t1 = t0;
  let cpu = process.cpuUsage();
  const begin = (): void => {
    measuring = true;
    t0 = performance.now();
    cpu = process.cpuUsage();
  };
  const end = (): void => {
    if (!measuring) return;
    measuring = false;
    t1 = performance.now();
    cpu = process.cpuUsage(cpu);
  };

  let deadline: NodeJS.Timeout | undefined;
  let live: Conn[] = [];
  /** Starts the measured window (count mode: from now; duration mode: after the warm-up). */
  const schedule = (): void => {
    if (mode === "duration") {
      setTimeout(begin, warmup);
      deadline = setTimeout(() => {
        end();
        stopping = true;
        for (const c of live) if (c.received >= c.sent) settle(c);
        deadline = setTimeout(finish, DRAIN_MS);
      }, warmup + duration);
    } else {
      begin();
      deadline = setTimeout(finish, COUNT_DEADLINE_MS);
      const last = finish;
      finish = () => {
        end();
        last();
      };
    }
  };

  let connectMs: number;
  if (atOnce) {
    // Every connection takes part from its connect on: the window of a count run covers the
    // connects too, and a connection that fails to connect is settled as it fails.
    active = connections;
    if (mode === "count") schedule();
    connectMs = await open();
    live = conns.filter((c) => !c.failed);
    if (mode === "duration") schedule();
  } else {
    connectMs = await open();
    live = conns.filter((c) => !c.failed);
    active = live.length;
    if (active === 0) finish();
    schedule();
    for (const c of live) send(c, Math.min(depth, perConnection));
  }
  await ended;
  end();
  clearTimeout(deadline);
  stopping = true;

  let lost = 0;
  let served = 0;
  for (const c of conns) {
    lost += Math.max(0, c.sent - c.received);
    if (!c.failed && c.received === c.sent && c.sent > 0 && (mode === "duration" || c.sent === perConnection)) served++;
  }
  // Count mode counts every echo; duration mode only those in the window.
  const total = histogram.reduce((a, b) => a + b, 0);
  const seconds = (t1 - t0) / 1000;
  const result: Result = {
    connections,
    connected: conns.filter((c) => c.connected).length,
    served,
    depth,
    size,
    mode,
    packets,
    seconds,
    rate: seconds > 0 ? packets / seconds : 0,
    p50: percentile(0.5, total),
    p99: percentile(0.99, total),
    max: maxLatency,
    errors: mismatches + lost + socketErrors + closed,
    mismatches,
    lost,
    socketErrors,
    closed,
    verifiedBytes,
    connectMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    atOnce,
    proto,
    ...readiness(),
  };
  for (const c of conns) c.socket.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** From the first connect to each connection's first echo: the last one (`ready_s`) and the median. */
function readiness(): Pick<Result, "ready_s" | "readyP50_s" | "readyConns"> {
  const times = conns
    .filter((c) => c.firstEcho > 0)
    .map((c) => (c.firstEcho - firstConnect) / 1000)
    .sort((a, b) => a - b);
  return { ready_s: times.at(-1) ?? 0, readyP50_s: times[Math.floor((times.length - 1) / 2)] ?? 0, readyConns: times.length };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
