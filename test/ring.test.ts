/**
 * The shared-memory ring under the transport: payloads of any size come out whole, byte-exact
 * and in order, including when they wrap around the end or are larger than the ring itself.
 */
import { describe, expect, it } from "vitest";
import { createRing, RingReader, RingWriter } from "weft/internal";

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

function readAll(reader: RingReader): Uint8Array[] {
  const got: Uint8Array[] = [];
  reader.read((payload) => got.push(payload));
  return got;
}

describe("the transport ring", () => {
  it("passes payloads through in order, wrapping around the end many times", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const sent: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    for (let i = 0; i < 500; i++) {
      const payload = bytes((i * 37) % 300, i);
      sent.push(payload);
      writer.write(payload);
      if (i % 3 === 0) got.push(...readAll(reader));
      while (writer.pending) {
        got.push(...readAll(reader));
        writer.drain();
      }
    }
    got.push(...readAll(reader));
    expect(got.length).toBe(sent.length);
    got.forEach((payload, i) => expect(Buffer.compare(payload, sent[i]), `payload ${i}`).toBe(0));
  });

  it("carries a payload larger than the ring in fragments, as the reader makes room", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const big = bytes(10_000, 3);
    writer.write(big);
    writer.write(bytes(5, 9));
    expect(writer.pending).toBe(true);
    const got: Uint8Array[] = [];
    let rounds = 0;
    while (writer.pending || reader.readable) {
      got.push(...readAll(reader));
      writer.drain();
      expect(++rounds).toBeLessThan(100);
    }
    expect(got.map((p) => p.length)).toEqual([10_000, 5]);
    expect(Buffer.compare(got[0], big)).toBe(0);
  });

  it("keeps an empty payload and refuses a capacity that is not a power of two", () => {
    const memory = createRing(1024);
    new RingWriter(memory).write(new Uint8Array(0));
    expect(readAll(new RingReader(memory)).map((p) => p.length)).toEqual([0]);
    expect(() => createRing(1000)).toThrow(RangeError);
  });

  it("hands the reader a private copy, not a view of shared memory", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    writer.write(bytes(100, 1));
    const [first] = readAll(reader);
    writer.write(new Uint8Array(900).fill(0xee));
    readAll(reader);
    expect(first.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.compare(first, bytes(100, 1))).toBe(0);
  });
});
