/**
 * The framing under netpack and the TCP gate: cuts a connection's bytes into packets, each a
 * 2-byte big-endian length and that many bytes, keeping a packet cut short by the end of a read
 * until the rest arrives. netpack.filter wraps it in skynet's results and queue; the gate calls
 * it directly and takes each packet as it is cut, with no result object and no queue between.
 */
import { Buffer } from "node:buffer";
import createDebug from "debug";

const trace = createDebug("weft:netpack");

/**
 * A packet cut short by the end of a read. `buf` is undefined while only the first header byte
 * has arrived (skynet's `read = -1`), so the header never needs its own buffer.
 */
export interface PartialPacket {
  first: number;
  buf: Buffer | undefined;
  read: number;
}

/** Each connection's partial packet, by connection id. */
export type Partials = Map<number, PartialPacket>;

/**
 * Completes fd's partial packet with `data`, then cuts every whole packet out of the rest and
 * keeps what is left as fd's new partial packet. Calls `each` for every packet, in order, and
 * returns how many there were.
 *
 * A whole packet inside `data` is a view of its memory, not a copy. A packet that spans reads is
 * allocated once, at its full size, as soon as its header is known, so a packet trickling in byte
 * by byte costs O(size) and many small packets in one read cost O(read).
 */
export function cutPackets(partials: Partials, fd: number, data: Buffer, each: (msg: Buffer) => void): number {
  const n = data.length;
  let off = 0;
  let count = 0;

  const p = partials.get(fd);
  if (p !== undefined && n > 0) {
    if (p.buf === undefined) {
      p.buf = Buffer.allocUnsafe((p.first << 8) | data[0]!);
      off = 1;
    }
    const take = Math.min(p.buf.length - p.read, n - off);
    data.copy(p.buf, p.read, off, off + take);
    p.read += take;
    off += take;
    if (p.read < p.buf.length) return 0;
    partials.delete(fd);
    count++;
    each(p.buf);
  }

  while (off < n) {
    if (n - off === 1) {
      partials.set(fd, { first: data[off]!, buf: undefined, read: 0 });
      break;
    }
    const size = (data[off]! << 8) | data[off + 1]!;
    off += 2;
    if (n - off >= size) {
      // A view made directly on the chunk's memory: the same bytes as data.subarray, at about
      // two thirds of its cost (subarray looks up the species constructor every time).
      const msg = Buffer.from(data.buffer, data.byteOffset + off, size);
      off += size;
      count++;
      each(msg);
    } else {
      const buf = Buffer.allocUnsafe(size);
      const read = data.copy(buf, 0, off, n);
      partials.set(fd, { first: 0, buf, read });
      break;
    }
  }
  return count;
}

/** Drops fd's partial packet (its connection opened anew, closed or failed). */
export function dropPartial(partials: Partials, fd: number, why: string): void {
  const p = partials.get(fd);
  if (p === undefined) return;
  partials.delete(fd);
  if (p.buf === undefined) trace("fd %d %s: dropped 1 header byte", fd, why);
  else trace("fd %d %s: dropped %d/%d bytes of a packet", fd, why, p.read, p.buf.length);
}
