/**
 * A single-producer, single-consumer byte ring in shared memory: one per direction per pair
 * of threads. Posting a MessagePort message costs a system call and a thread wake-up (tens of
 * µs on small machines); a write here costs a memcpy, and the reader finds it on its next poll.
 *
 * Layout: Int32 words [write position, read position], then `capacity` bytes of frames. Each
 * frame is a 4-byte length word (the top bit set when more fragments of the same payload
 * follow) and the bytes, padded to 4. Positions only grow (mod 2^32), so full and empty differ.
 *
 * A whole frame never wraps around the end: where the space left before the end is too small,
 * the writer leaves a SKIP word and goes on at the start. So the reader can hand out a frame
 * as a view of the ring, decoded where it lies (record.ts). A payload larger than the free
 * space goes in fragments as space frees up (any size goes through, order is kept); the
 * reader joins those into a copy of their own.
 *
 * Two ways to write: `reserve`/`commit` writes a frame in place (the transport's records),
 * `write` queues a payload made elsewhere. What either wrote is seen by the reader once
 * `publish` (or `write`, or `drain`) stores the write position.
 */
import { Buffer } from "node:buffer";

const WRITE = 0;
const READ = 1;
const HEADER_BYTES = 8;
const MORE = 0x80000000;
/** The length word of a gap before the end of the ring: the next frame is at the start. */
const SKIP = 0x7fffffff;
const MIN_FRAGMENT = 64;

export function createRing(capacity: number): SharedArrayBuffer {
  if (capacity < 1024 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`ring capacity must be a power of two >= 1024, not ${capacity}`);
  return new SharedArrayBuffer(HEADER_BYTES + capacity);
}

const pad = (n: number) => (n + 3) & ~3;

class RingView {
  protected readonly index: Int32Array;
  /** The frames' bytes, as a Buffer so records can be decoded in place. */
  readonly bytes: Buffer;
  readonly view: DataView;
  protected readonly capacity: number;
  protected readonly mask: number;

  constructor(memory: SharedArrayBuffer) {
    this.index = new Int32Array(memory, 0, 2);
    this.capacity = memory.byteLength - HEADER_BYTES;
    this.mask = this.capacity - 1;
    this.bytes = Buffer.from(memory, HEADER_BYTES, this.capacity);
    this.view = new DataView(memory, HEADER_BYTES, this.capacity);
  }
}

export class RingWriter extends RingView {
  /** Payload bytes not yet written, oldest first: [bytes, offset already written]. */
  private readonly backlog: [Uint8Array, number][] = [];
  /** Where the next frame goes; ahead of the published write position until publish(). */
  private cursor: number;
  /** Where a reserved frame's length word is (reserve, then commit). */
  private reserved = -1;

  /** Bytes of payloads queued and not wholly written yet (what the reader has not made room for). */
  pendingBytes = 0;

  constructor(memory: SharedArrayBuffer) {
    super(memory);
    this.cursor = Atomics.load(this.index, WRITE) >>> 0;
  }

  get pending(): boolean {
    return this.backlog.length > 0;
  }

  /**
   * Room for one whole frame of up to `size` bytes, in one piece: returns the offset in
   * `bytes` to write it at, then call commit with its real length. -1 when there is no room
   * now or payloads wait in the backlog (they go first): queue it with write() instead.
   */
  reserve(size: number): number {
    if (this.backlog.length > 0) return -1;
    const at = this.room(size);
    if (at < 0) return -1;
    this.reserved = at;
    return at + 4;
  }

  /** Ends the reserved frame at `length` bytes (at most what was reserved). */
  commit(length: number): void {
    const at = this.reserved;
    this.reserved = -1;
    this.view.setUint32(at, length, true);
    this.cursor = (this.cursor + 4 + pad(length)) >>> 0;
  }

  /** Lets the reader see every frame written so far. */
  publish(): void {
    Atomics.store(this.index, WRITE, this.cursor | 0);
  }

  /** Queues a payload and writes as much of the backlog as fits. Returns true if anything was published. */
  write(payload: Uint8Array): boolean {
    this.backlog.push([payload, 0]);
    this.pendingBytes += payload.length;
    return this.drain();
  }

  /** Writes what fits of the backlog, then publishes; call again when the reader has made room. */
  drain(): boolean {
    const start = Atomics.load(this.index, WRITE) >>> 0;
    while (this.backlog.length > 0) {
      const entry = this.backlog[0];
      const [payload, offset] = entry;
      const left = payload.length - offset;
      const whole = this.room(left);
      let at = whole;
      let size = left;
      if (at < 0) {
        // No room for the rest in one piece: a fragment as large as fits, if that is worth it.
        at = this.room(MIN_FRAGMENT);
        if (at < 0) break;
        size = Math.min(left, this.contiguousFree(at) - 4) & ~3;
      }
      const more = size < left;
      this.view.setUint32(at, more ? (size | MORE) >>> 0 : size, true);
      this.bytes.set(payload.subarray(offset, offset + size), at + 4);
      this.cursor = (this.cursor + 4 + pad(size)) >>> 0;
      if (more) entry[1] = offset + size;
      else {
        this.backlog.shift();
        this.pendingBytes -= payload.length;
      }
    }
    if (this.cursor === start) return false;
    this.publish();
    return true;
  }

  /** Bytes free from `at` (where the cursor is now) to the end of the ring or the reader, whichever is first. */
  private contiguousFree(at: number): number {
    const free = this.capacity - ((this.cursor - (Atomics.load(this.index, READ) >>> 0)) >>> 0);
    return Math.min(free, this.capacity - at);
  }

  /**
   * The offset of the length word for a frame of `size` payload bytes in one piece, which is
   * where the cursor is, or the start of the ring once a SKIP word fills the gap before the
   * end; -1 if there is no room.
   */
  private room(size: number): number {
    const need = 4 + pad(size);
    const read = Atomics.load(this.index, READ) >>> 0;
    const free = this.capacity - ((this.cursor - read) >>> 0);
    const at = this.cursor & this.mask;
    const toEnd = this.capacity - at;
    if (need <= toEnd) return need <= free ? at : -1;
    // Past the end: the gap is spent, and the frame goes at the start.
    if (toEnd + need > free) return -1;
    this.view.setUint32(at, SKIP, true);
    this.cursor = (this.cursor + toEnd) >>> 0;
    return 0;
  }
}

/** Handed each whole payload: `bytes` from `at`, `length` long. A view of the ring: valid until the call returns. */
export type FrameHandler = (bytes: Buffer, view: DataView, at: number, length: number) => void;

export class RingReader extends RingView {
  private fragments: Buffer[] = [];

  /** True if there is something to read (cheap: two loads). */
  get readable(): boolean {
    return Atomics.load(this.index, WRITE) !== Atomics.load(this.index, READ);
  }

  /**
   * Calls `deliver` with each whole payload, oldest first, where it lies in the ring (or, for
   * one that came in fragments, in a copy). Returns how many.
   */
  readFrames(deliver: FrameHandler): number {
    const index = this.index;
    const write = Atomics.load(index, WRITE) >>> 0;
    let read = Atomics.load(index, READ) >>> 0;
    let count = 0;
    try {
      while (read !== write) {
        const at = read & this.mask;
        const header = this.view.getUint32(at, true);
        if (header === SKIP) {
          read = (read + (this.capacity - at)) >>> 0;
          continue;
        }
        const size = (header & ~MORE) >>> 0;
        const next = (read + 4 + pad(size)) >>> 0;
        if (header & MORE || this.fragments.length > 0) {
          this.fragments.push(Buffer.from(this.bytes.subarray(at + 4, at + 4 + size)));
          read = next;
          if (header & MORE) continue;
          const whole = Buffer.concat(this.fragments);
          this.fragments = [];
          // A copy: the space can be given back before it is handled.
          Atomics.store(index, READ, read | 0);
          deliver(whole, new DataView(whole.buffer, whole.byteOffset, whole.length), 0, whole.length);
        } else {
          // Past it even if handling throws: a frame that cannot be handled is not read again.
          read = next;
          deliver(this.bytes, this.view, at + 4, size);
        }
        count++;
      }
    } finally {
      // Given back after handling: until then the frame was being read where it lay.
      Atomics.store(index, READ, read | 0);
    }
    return count;
  }

  /** Calls `deliver` with each whole payload as a private copy, oldest first. Returns how many. */
  read(deliver: (payload: Uint8Array) => void): number {
    return this.readFrames((bytes, _view, at, length) => deliver(Buffer.from(bytes.subarray(at, at + length))));
  }
}
