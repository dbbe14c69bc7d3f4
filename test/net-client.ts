/**
 * A TCP client for the gate tests: it frames what it sends and unframes what it gets with its
 * own code (2-byte big-endian length + payload), not weft's netpack, so the tests compare the
 * gate against an independent implementation. It can stop reading (to build a backlog on the
 * server), write raw bytes, and wait for the Nth packet, for `end` or for `close`.
 * Every client is destroyed when the test that made it finishes.
 */
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { onTestFinished } from "vitest";
import { Arrivals } from "./arrivals.js";

/** One packet on the wire. */
export function frame(payload: Uint8Array | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  if (body.length > 0xffff) throw new RangeError(`payload of ${body.length} bytes does not fit a frame`);
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  out.set(body, 2);
  return out;
}

/** Several packets back to back, as one buffer. */
export const frames = (payloads: (Uint8Array | string)[]): Buffer => Buffer.concat(payloads.map(frame));

/** `n` bytes that differ from packet to packet (`seed`) and from byte to byte. */
export function pattern(n: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/**
 * Packets as short "length:hash" strings: comparing thousands of large Buffers with toEqual is
 * slow, and a diff of these still shows which packet differs and whether its length did.
 */
export const digest = (packets: Uint8Array[]): string[] => packets.map((p) => `${p.length}:${createHash("sha1").update(p).digest("hex").slice(0, 16)}`);

export interface Closed {
  /** The socket closed because of an error (for instance a reset by the server). */
  hadError: boolean;
  error?: Error;
}

export class NetClient {
  private readonly arrived = new Arrivals<Buffer>("packets", () => this.peer);
  /** Raw bytes received (headers included). */
  bytesReceived = 0;
  /** Resolves when the server ended its side (FIN). */
  readonly ended: Promise<void>;
  /** Resolves when the socket is fully closed, however that happened. */
  readonly closed: Promise<Closed>;
  private pending: Buffer | undefined;
  private error: Error | undefined;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.ended = new Promise((resolve) => socket.once("end", () => resolve()));
    this.closed = new Promise((resolve) =>
      socket.once("close", (hadError) => {
        resolve({ hadError, error: this.error });
        this.arrived.end();
      }),
    );
    // A reset is part of several scenarios; record it rather than crash the test process.
    socket.on("error", (err) => (this.error = err));
  }

  /** Connects to 127.0.0.1:port; the socket is destroyed when the current test finishes. */
  static async connect(port: number, options: { noDelay?: boolean; track?: boolean } = {}): Promise<NetClient> {
    const socket = connect({ host: "127.0.0.1", port, noDelay: options.noDelay ?? true });
    const client = new NetClient(socket);
    if (options.track !== false) onTestFinished(() => client.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return client;
  }

  /** How the gate names this connection in `socket open` and `connections`. */
  get peer(): string {
    return `127.0.0.1:${this.socket.localPort}`;
  }

  /** Frames each payload and writes them all in one write. */
  send(...payloads: (Uint8Array | string)[]): Promise<void> {
    return this.write(frames(payloads));
  }

  /** Writes bytes as they are; resolves once they were handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Stops reading: what the server writes piles up in the kernel, then in the server. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Every packet received so far, whole, in order. */
  get packets(): Buffer[] {
    return this.arrived.items;
  }

  /** Resolves with the first `n` packets once that many arrived; rejects if the socket closes first or after `ms`. */
  waitPackets(n: number, ms?: number): Promise<Buffer[]> {
    return this.arrived.first(n, ms);
  }

  /** Half-closes (FIN) after what was written. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let off = 0;
    while (data.length - off >= 2) {
      const size = data.readUInt16BE(off);
      if (data.length - off - 2 < size) break;
      // A copy: the chunk's memory is ours to drop, the packet is the test's to keep.
      this.arrived.push(Buffer.from(data.subarray(off + 2, off + 2 + size)));
      off += 2 + size;
    }
    if (off < data.length) this.pending = data.subarray(off);
  }
}

/** Resolves after `ms`: only to show that something did NOT happen in that time. */
export const quietFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` if it takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
