/**
 * A single-producer, single-consumer byte ring in shared memory: one per direction per pair
 * of threads. Posting a MessagePort message costs a system call and a thread wake-up (tens of
 * µs on small machines); a write here costs a memcpy, and the reader finds it on its next poll.
 *
 * Layout: Int32 words [write position, read position], then `capacity` bytes of frames. Each
 * frame is a 4-byte length (the top bit set when more fragments of the same payload follow)
 * and the bytes, padded to 4. Positions only grow (mod 2^32), so full and empty differ.
 * A payload larger than the free space is written in fragments as space frees up, so any
 * size goes through and order is kept.
 */
const WRITE = 0;
const READ = 1;
const HEADER_BYTES = 8;
const MORE = 0x80000000;
const MIN_FRAGMENT = 64;

export function createRing(capacity: number): SharedArrayBuffer {
  if (capacity < 1024 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`ring capacity must be a power of two >= 1024, not ${capacity}`);
  return new SharedArrayBuffer(HEADER_BYTES + capacity);
}

const pad = (n: number) => (n + 3) & ~3;

class RingView {
  protected readonly index: Int32Array;
  protected readonly bytes: Uint8Array;
  protected readonly words: DataView;
  protected readonly capacity: number;

  constructor(memory: SharedArrayBuffer) {
    this.index = new Int32Array(memory, 0, 2);
    this.capacity = memory.byteLength - HEADER_BYTES;
    this.bytes = new Uint8Array(memory, HEADER_BYTES, this.capacity);
    this.words = new DataView(memory, HEADER_BYTES, this.capacity);
  }
}

export class RingWriter extends RingView {
  /** Payload bytes not yet written, oldest first: [bytes, offset already written]. */
  private readonly backlog: [Uint8Array, number][] = [];

  /** Bytes of payloads queued and not wholly written yet (what the reader has not made room for). */
  pendingBytes = 0;

  get pending(): boolean {
    return this.backlog.length > 0;
  }

  /** Queues a payload and writes as much of the backlog as fits. Returns true if anything was written. */
  write(payload: Uint8Array): boolean {
    this.backlog.push([payload, 0]);
    this.pendingBytes += payload.length;
    return this.drain();
  }

  /** Writes what fits of the backlog; call again when the reader has made room. */
  drain(): boolean {
    const index = this.index;
    let write = Atomics.load(index, WRITE) >>> 0;
    const read = Atomics.load(index, READ) >>> 0;
    const start = write;
    while (this.backlog.length > 0) {
      const entry = this.backlog[0];
      const [payload, offset] = entry;
      const free = this.capacity - ((write - read) >>> 0);
      const left = payload.length - offset;
      const room = free - 4;
      if (room < pad(left) && room < MIN_FRAGMENT) break;
      const size = pad(left) <= room ? left : room & ~3;
      const more = size < left;
      this.words.setUint32(write & (this.capacity - 1), more ? (size | MORE) >>> 0 : size);
      this.copyIn(payload.subarray(offset, offset + size), (write + 4) >>> 0);
      write = (write + 4 + pad(size)) >>> 0;
      if (more) entry[1] = offset + size;
      else {
        this.backlog.shift();
        this.pendingBytes -= payload.length;
      }
    }
    if (write === start) return false;
    Atomics.store(index, WRITE, write | 0);
    return true;
  }

  private copyIn(chunk: Uint8Array, position: number): void {
    const at = position & (this.capacity - 1);
    const first = Math.min(chunk.length, this.capacity - at);
    this.bytes.set(chunk.subarray(0, first), at);
    if (first < chunk.length) this.bytes.set(chunk.subarray(first), 0);
  }
}

export class RingReader extends RingView {
  private fragments: Uint8Array[] = [];

  /** True if there is something to read (cheap: two loads). */
  get readable(): boolean {
    return Atomics.load(this.index, WRITE) !== Atomics.load(this.index, READ);
  }

  /** Calls `deliver` with each whole payload (a private copy), oldest first. Returns how many. */
  read(deliver: (payload: Uint8Array) => void): number {
    const index = this.index;
    const write = Atomics.load(index, WRITE) >>> 0;
    let read = Atomics.load(index, READ) >>> 0;
    let count = 0;
    while (read !== write) {
      const header = this.words.getUint32(read & (this.capacity - 1));
      const size = header & ~MORE;
      const chunk = this.copyOut((read + 4) >>> 0, size);
      read = (read + 4 + pad(size)) >>> 0;
      if (header & MORE) {
        this.fragments.push(chunk);
        continue;
      }
      let payload = chunk;
      if (this.fragments.length > 0) {
        this.fragments.push(chunk);
        payload = Buffer.concat(this.fragments);
        this.fragments = [];
      }
      // Free the space before handling, so a writer waiting on a full ring can go on.
      Atomics.store(index, READ, read | 0);
      deliver(payload);
      count++;
    }
    Atomics.store(index, READ, read | 0);
    return count;
  }

  private copyOut(position: number, size: number): Uint8Array {
    const out = new Uint8Array(size);
    const at = position & (this.capacity - 1);
    const first = Math.min(size, this.capacity - at);
    out.set(this.bytes.subarray(at, at + first));
    if (first < size) out.set(this.bytes.subarray(0, size - first), first);
    return out;
  }
}
