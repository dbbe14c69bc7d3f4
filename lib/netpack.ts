/**
 * netpack: skynet's lua-netpack.c as pure functions over Buffers. Each packet on the wire is a
 * 2-byte big-endian length followed by that many payload bytes (0..65535). There are no sockets
 * here, so every split and every boundary can be tested without I/O.
 *
 * Ownership: a `msg` returned by `filter` or `pop` may be a `subarray` view of the `data` chunk
 * the caller passed in (whole packets inside one chunk are never copied). The caller must not
 * reuse or overwrite a chunk's memory while its packets are alive. Node hands every socket read
 * a fresh Buffer, so a gate feeding socket chunks straight in is safe; a caller that recycles a
 * read buffer must copy packets out first. Packets that span reads are assembled into a buffer
 * netpack allocates, once, as soon as their header is known.
 */
import { Buffer } from "node:buffer";
import { defaults } from "../runtime/defaults.js";
import { PacketTooLargeError } from "../runtime/errors.js";
import { cutPackets, dropPartial, type Partials } from "./framing.js";

/** What the socket layer saw on connection `fd` (a connection id, not an OS fd). */
export type SocketEvent =
  | { type: "data"; fd: number; data: Buffer }
  | { type: "open"; fd: number; addr: string }
  | { type: "close"; fd: number }
  | { type: "error"; fd: number; message: string }
  | {
      type: "warning";
      fd: number;
      /** Unsent backlog on fd, in KiB. */
      size: number;
    };

/**
 * What `filter` made of a SocketEvent. `data` carries exactly one whole packet and means nothing
 * is queued; `more` means whole packets are queued: take every one with `pop` before the next
 * filter. The other events pass through unchanged in shape.
 */
export type FilterResult =
  | { type: "data"; fd: number; msg: Buffer }
  | { type: "more" }
  | { type: "open"; fd: number; addr: string }
  | { type: "close"; fd: number }
  | { type: "error"; fd: number; message: string }
  | { type: "warning"; fd: number; size: number };

declare const opaque: unique symbol;

/** Per-connection partial packets plus a FIFO of complete ones. Opaque: use the functions here. */
export interface NetpackQueue {
  readonly [opaque]: true;
}

/**
 * The complete packets wait in two parallel arrays read from `head`. Array#shift would make
 * popping 10,000 packets quadratic; instead the arrays are reset when drained and compacted
 * when the dead prefix outweighs the live part, so every push and pop is amortised O(1).
 */
class Queue {
  partial: Partials = new Map();
  fds: number[] = [];
  msgs: Buffer[] = [];
  head = 0;

  push(fd: number, msg: Buffer): void {
    if (this.head > 1024 && this.head * 2 > this.msgs.length) {
      this.fds = this.fds.slice(this.head);
      this.msgs = this.msgs.slice(this.head);
      this.head = 0;
    }
    this.fds.push(fd);
    this.msgs.push(msg);
  }

  get empty(): boolean {
    return this.head === this.msgs.length;
  }

  reset(): void {
    this.fds = [];
    this.msgs = [];
    this.head = 0;
  }
}

const state = (queue: NetpackQueue): Queue => queue as unknown as Queue;

/**
 * A queue for all the connections one gate serves; partial packets are kept per fd, so reads
 * from different connections can interleave freely.
 * @example
 * const queue = netpack.createQueue();
 * socket.on("data", (data) => handle(netpack.filter(queue, { type: "data", fd, data })));
 */
export function createQueue(): NetpackQueue {
  return new Queue() as unknown as NetpackQueue;
}

/**
 * Feeds one socket event through the framer. Returns `undefined` while a packet is still
 * incomplete, `data` when the read completed exactly one packet, and `more` when it completed
 * several (take them with `pop` until it returns undefined). `close` and `error` discard fd's
 * partial packet, `open` discards any stale one; all three, and `warning`, pass through.
 *
 * Unlike skynet, a read that completes one packet while earlier packets are still queued
 * (the caller did not pop everything after a `more`) answers `more`, so per-fd order holds.
 * @example
 * const r = netpack.filter(queue, { type: "data", fd: 1, data: netpack.pack("hi") });
 * // r = { type: "data", fd: 1, msg: <Buffer 68 69> }
 */
export function filter(queue: NetpackQueue, event: SocketEvent): FilterResult | undefined {
  const q = state(queue);
  switch (event.type) {
    case "data":
      return filterData(q, event.fd, event.data);
    case "open":
      discard(q, event.fd, "open");
      return { type: "open", fd: event.fd, addr: event.addr };
    case "close":
      discard(q, event.fd, "close");
      return { type: "close", fd: event.fd };
    case "error":
      discard(q, event.fd, "error");
      return { type: "error", fd: event.fd, message: event.message };
    case "warning":
      return { type: "warning", fd: event.fd, size: event.size };
  }
}

function discard(q: Queue, fd: number, why: string): void {
  dropPartial(q.partial, fd, why);
}

function filterData(q: Queue, fd: number, data: Buffer): FilterResult | undefined {
  // The first packet of a read is held back rather than queued, so the common case of one
  // packet per read returns `data` without touching the FIFO.
  let single: Buffer | undefined;
  const count = cutPackets(q.partial, fd, data, (msg) => {
    if (single === undefined && q.empty) single = msg;
    else {
      if (single !== undefined) q.push(fd, single);
      single = undefined;
      q.push(fd, msg);
    }
  });
  if (single !== undefined) return { type: "data", fd, msg: single };
  return count > 0 ? { type: "more" } : undefined;
}

/**
 * Takes the oldest queued packet, or undefined when none is left. After `more`, pop until
 * undefined: packets left behind are returned ahead of later ones.
 * @example
 * if (r?.type === "more") for (let p = netpack.pop(queue); p; p = netpack.pop(queue)) deliver(p.fd, p.msg);
 */
export function pop(queue: NetpackQueue): { fd: number; msg: Buffer } | undefined {
  const q = state(queue);
  if (q.empty) return undefined;
  const i = q.head++;
  const item = { fd: q.fds[i]!, msg: q.msgs[i]! };
  if (q.empty) q.reset();
  return item;
}

/**
 * Frames a payload for the wire: the 2-byte big-endian length, then the bytes (a string is
 * sent as utf8). A payload over 65535 bytes throws PacketTooLargeError: the header cannot
 * say more, and a truncated length would desynchronise the stream for every later packet.
 * @example
 * socket.write(netpack.pack("hello")); // <Buffer 00 05 68 65 6c 6c 6f>
 */
export function pack(payload: Uint8Array | string): Buffer {
  const limit = defaults.packetMax;
  if (typeof payload === "string") {
    const size = Buffer.byteLength(payload, "utf8");
    if (size > limit) throw new PacketTooLargeError(size, limit);
    const out = Buffer.allocUnsafe(2 + size);
    out.writeUInt16BE(size, 0);
    out.write(payload, 2, "utf8");
    return out;
  }
  const size = payload.byteLength;
  if (size > limit) throw new PacketTooLargeError(size, limit);
  const out = Buffer.allocUnsafe(2 + size);
  out.writeUInt16BE(size, 0);
  out.set(payload, 2);
  return out;
}

/**
 * Frames several payloads into one buffer, back to back: what `pack` gives for each, in one
 * allocation and one write. One over 65535 bytes throws before anything is framed.
 * @example
 * socket.write(netpack.packMany([a, b, c]));
 */
export function packMany(payloads: readonly (Uint8Array | string)[]): Buffer {
  const limit = defaults.packetMax;
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i]!;
    const size = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.length;
    if (size > limit) throw new PacketTooLargeError(size, limit);
    total += 2 + size;
  }
  // The gate frames every packet it sends here, so the loops stay plain: no iterator, `length`
  // (a Uint8Array's byteLength, without the getter call), and the header written by hand (the
  // sizes are checked above; writeUInt16BE would check again).
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i]!;
    const size = typeof payload === "string" ? out.write(payload, at + 2, "utf8") : payload.length;
    out[at] = size >>> 8;
    out[at + 1] = size & 0xff;
    if (typeof payload !== "string") out.set(payload, at + 2);
    at += 2 + size;
  }
  return out;
}

/**
 * Decodes a packet as utf8.
 * @example
 * netpack.tostring(msg); // "hello"
 */
export function tostring(msg: Uint8Array): string {
  return Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString("utf8");
}

/**
 * Drops every partial packet and every queued one, as when the gate closes.
 * @example
 * netpack.clear(queue);
 */
export function clear(queue: NetpackQueue): void {
  const q = state(queue);
  q.partial.clear();
  q.reset();
}
