/**
 * The binary record between threads (runtime/record.ts): every body kind and item type comes
 * back as it went, read in place from a ring at wrap-around or joined from fragments; what
 * is decoded never aliases shared memory; a record that does not hold together is refused
 * with RecordError (WEFT_RECORD).
 */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { EncodeError, WeftError } from "weft";
import { BodyKind, createRing, encodable, Packed, packr, readRecord, RECORD_HEADER, recordBound, recordBytes, RingReader, RingWriter, writeRecord } from "weft/internal";

type Decoded = { dest: number; source: number; session: number; proto: number; cmd: string; body: unknown };

const viewOf = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.length);

function decode(bytes: Buffer, at = 0, length = bytes.length - at): Decoded {
  let got: Decoded | undefined;
  readRecord(bytes, viewOf(bytes), at, length, (dest, source, session, proto, cmd, body) => (got = { dest, source, session, proto, cmd, body }));
  if (got === undefined) throw new Error("no record delivered");
  return got;
}

/** Writes and reads one record; checks its bound and returns what came back and its body kind. */
function roundTrip(body: unknown, cmd = "cmd", header: Partial<Omit<Decoded, "cmd" | "body">> = {}) {
  const { dest = 0x02000001, source = 0x01000007, session = 12, proto = 10 } = header;
  const sealed = encodable(body);
  const record = recordBytes(dest, source, session, proto, cmd, sealed);
  expect(record.length).toBeLessThanOrEqual(recordBound(cmd, sealed));
  const got = decode(record);
  expect(got).toMatchObject({ dest, source, session, proto, cmd });
  return { body: got.body, kind: record[13] as BodyKind, record };
}

/** A record as bytes, header fields set by hand: for malformed ones. */
function handmade(kind: number, body: number[], options: { cmdLength?: number; bodyLength?: number; slack?: number } = {}): Buffer {
  const b = Buffer.alloc(RECORD_HEADER + body.length + (options.slack ?? 0));
  const v = viewOf(b);
  v.setUint8(12, 10);
  v.setUint8(13, kind);
  v.setUint16(14, options.cmdLength ?? 0, true);
  v.setUint32(16, options.bodyLength ?? body.length, true);
  b.set(body, RECORD_HEADER);
  return b;
}

/** Bytes as arrays of numbers, at any depth: a Buffer and a Uint8Array of the same bytes compare equal. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array ? [...v] : Array.isArray(v) ? v.map(plain) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;

const f64 = (n: number) => [...new Uint8Array(new Float64Array([n]).buffer)];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

function expectRecordError(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WeftError);
  expect(err).toMatchObject({ name: "RecordError", code: "WEFT_RECORD" });
  expect((err as Error).message).toMatch(message);
}

describe("the record header", () => {
  it("lays out dest, source, session, protocol, kind, command and body lengths little-endian, as the comment says", () => {
    const record = recordBytes(0xfe000001, 0x01000002, -7, 3, "héllo", Uint8Array.of(9, 8, 7));
    const v = viewOf(record);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getInt32(8, true), v.getUint8(12), v.getUint8(13), v.getUint16(14, true), v.getUint32(16, true)]).toEqual([
      0xfe000001, 0x01000002, -7, 3, BodyKind.Bytes, 6, 3,
    ]);
    expect(record.subarray(20, 26).toString("utf8")).toBe("héllo");
    expect([...record.subarray(26)]).toEqual([9, 8, 7]);
    expect(record.length).toBe(29);
  });

  it("keeps every session (call, send, tag), full 32-bit handles, protocol 255, and empty, non-ASCII and long commands", () => {
    for (const session of [1, 0, -1, 0x7fffffff, -0x7fffffff]) expect(roundTrip(undefined, "c", { session }).body).toBeUndefined();
    expect(roundTrip(1, "x", { dest: 0xffffffff, source: 0, proto: 255 }).body).toBe(1);
    for (const cmd of ["", "a", "命令", "𝄞 clef", "x".repeat(0xffff)]) roundTrip(null, cmd);
  });

  it("refuses a command longer than 65535 bytes with EncodeError", () => {
    expect(() => recordBytes(1, 2, 0, 10, "x".repeat(0x10000), undefined)).toThrow(EncodeError);
    expect(() => recordBytes(1, 2, 0, 10, "é".repeat(40_000), undefined)).toThrow(/at most 65535/);
  });
});

describe("body kinds and items", () => {
  it("NONE: undefined", () => {
    expect(roundTrip(undefined)).toMatchObject({ kind: BodyKind.None, body: undefined });
  });

  it("BYTES: a Uint8Array (or a view into a larger buffer) arrives as a Buffer of the same bytes", () => {
    const backing = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    for (const bytes of [new Uint8Array(0), Uint8Array.of(1, 2, 3), backing.subarray(7, 260)]) {
      const { kind, body } = roundTrip(bytes);
      expect(kind).toBe(BodyKind.Bytes);
      expect(Buffer.isBuffer(body)).toBe(true);
      expect([...(body as Buffer)]).toEqual([...bytes]);
    }
  });

  it("VALUE: numbers keep -0, NaN, infinities, extremes and integers past 2^53", () => {
    for (const n of [0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 0.1 + 0.2, -1.5]) {
      const { kind, body } = roundTrip(n);
      expect(kind).toBe(BodyKind.Value);
      expect(Object.is(body, n), `number ${n}`).toBe(true);
    }
  });

  it("VALUE: strings, empty, ASCII at each length the fast paths care about, non-ASCII, astral, long", () => {
    const strings = [
      "",
      "a",
      "a".repeat(16),
      "a".repeat(17),
      "a".repeat(32),
      "a".repeat(33),
      "abcdefghijklmnoé", // 16 code units, the last not ASCII
      "é",
      "日本語のテキスト",
      "𝄞🎉 astral",
      "x".repeat(100_000),
      "ü€𝄞".repeat(20_000),
    ];
    for (const s of strings) {
      const { kind, body } = roundTrip(s);
      expect(kind).toBe(BodyKind.Value);
      expect(body === s, `string of ${s.length}`).toBe(true);
    }
  });

  it("VALUE: a lone surrogate cannot go through UTF-8 and arrives as one U+FFFD (msgpackr writes short ones as three bytes that decode to three)", () => {
    // Made at run time: a lone surrogate in the source text would not survive the test's own transform.
    const lone = `a${String.fromCharCode(0xd800)}b`;
    expect(roundTrip(lone).body).toBe("a\ufffdb");
    expect(roundTrip([lone]).body).toEqual(["a\ufffdb"]);
  });

  it("VALUE: null, true, false", () => {
    for (const v of [null, true, false]) expect(roundTrip(v)).toMatchObject({ kind: BodyKind.Value, body: v });
  });

  it("LIST: primitives and bytes, written without msgpack, undefined kept in place", () => {
    const list = [undefined, null, true, false, 1, -0, NaN, "", "s", "ü".repeat(50), Uint8Array.of(1, 2), new Uint8Array(0), 2 ** 60];
    const { kind, body } = roundTrip(list);
    expect(kind).toBe(BodyKind.List);
    expect(encodable(list)).toBe(list);
    const got = body as unknown[];
    expect(got).toHaveLength(list.length);
    expect(got[0]).toBeUndefined();
    expect(0 in got).toBe(true);
    expect(Object.is(got[5], -0)).toBe(true);
    expect(got[6]).toBeNaN();
    expect(got.slice(1, 5)).toEqual([null, true, false, 1]);
    expect(got.slice(7, 10)).toEqual(["", "s", "ü".repeat(50)]);
    expect([...(got[10] as Buffer)]).toEqual([1, 2]);
    expect((got[11] as Buffer).length).toBe(0);
    expect(got[12]).toBe(2 ** 60);
    expect(roundTrip([])).toMatchObject({ kind: BodyKind.List, body: [] });
  });

  it("MSGPACK: nested objects, bigint of any size, Date, Set, bytes inside; a Map arrives as a plain object (README)", () => {
    const value = {
      nested: { deep: [1, { deeper: ["x", null, true] }], empty: {} },
      big: 123n,
      huge: 2n ** 100n,
      negative: -(2n ** 70n),
      when: new Date(86_400_000),
      set: new Set([1, "two"]),
      bytes: Uint8Array.of(5, 6),
      unicode: "ünï",
    };
    const { kind, body } = roundTrip(value);
    expect(kind).toBe(BodyKind.Msgpack);
    expect(body).toEqual(value);
    expect(roundTrip(new Map([[1, "a"]])).body).toEqual({ 1: "a" });
    // A list with anything but primitives and bytes in it goes whole through msgpack.
    expect(roundTrip([1, 5n, { a: 1 }])).toMatchObject({ kind: BodyKind.Msgpack, body: [1, 5n, { a: 1 }] });
    expect(roundTrip(7n)).toMatchObject({ kind: BodyKind.Msgpack, body: 7n });
  });

  it("MSGPACK: a Packed body's bytes go as they are, not encoded twice", () => {
    const packed = new Packed(packr.pack({ a: [1, 2] }));
    expect(encodable(packed)).toBe(packed);
    const { kind, body, record } = roundTrip(packed);
    expect(kind).toBe(BodyKind.Msgpack);
    expect(body).toEqual({ a: [1, 2] });
    expect(Buffer.compare(record.subarray(RECORD_HEADER + 3), packed.bytes)).toBe(0);
  });
});

describe("records in a ring", () => {
  /** Writes a record in place, as the transport does; false when there is no room now. */
  function put(writer: RingWriter, session: number, cmd: string, body: unknown): number {
    const sealed = encodable(body);
    const at = writer.reserve(recordBound(cmd, sealed));
    if (at < 0) return -1;
    writer.commit(writeRecord(writer.bytes, writer.view, at, 0x02000001, 0x01000001, session, 10, cmd, sealed));
    writer.publish();
    return at;
  }

  function readAll(reader: RingReader, into: Decoded[]): number {
    return reader.readFrames((bytes, view, at, length) =>
      readRecord(bytes, view, at, length, (dest, source, session, proto, cmd, body) => into.push({ dest, source, session, proto, cmd, body })),
    );
  }

  const bodyFor = (i: number): unknown => {
    switch (i % 4) {
      case 0:
        return [i, `item ${i}`, Uint8Array.from({ length: i % 90 }, (_, k) => (k + i) & 0xff)];
      case 1:
        return { i, text: "ü".repeat(i % 40) };
      case 2:
        return Uint8Array.from({ length: (i * 13) % 200 }, (_, k) => k & 0xff);
      default:
        return `s${i}`.repeat(i % 30);
    }
  };

  it("reads records in place, in order, across many wrap-arounds (a SKIP word before the end, the next frame at the start)", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const got: Decoded[] = [];
    let wraps = 0;
    let lastAt = -1;
    for (let i = 0; i < 400; i++) {
      let at = put(writer, i + 1, `c${i}`, bodyFor(i));
      if (at < 0) {
        readAll(reader, got);
        at = put(writer, i + 1, `c${i}`, bodyFor(i));
      }
      expect(at, `record ${i} fits once the reader has read`).toBeGreaterThanOrEqual(0);
      if (at === 4 && lastAt > 4) wraps++;
      lastAt = at;
      if (i % 5 === 0) readAll(reader, got);
    }
    readAll(reader, got);
    expect(wraps).toBeGreaterThan(10);
    expect(got).toHaveLength(400);
    got.forEach((record, i) => {
      expect(record.session).toBe(i + 1);
      expect(record.cmd).toBe(`c${i}`);
      expect(plain(record.body), `record ${i}`).toEqual(plain(bodyFor(i)));
    });
  });

  it("a record larger than the ring goes in fragments and comes out whole", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const big = ["x".repeat(3000), Uint8Array.from({ length: 5000 }, (_, k) => (k * 7) & 0xff), "日本".repeat(700)];
    expect(put(writer, 1, "big", big)).toBe(-1);
    writer.write(recordBytes(0x02000001, 0x01000001, 1, 10, "big", encodable(big)));
    writer.write(recordBytes(0x02000001, 0x01000001, 2, 10, "after", encodable(7)));
    // The backlog goes first: no in-place reservation overtakes it.
    expect(writer.reserve(16)).toBe(-1);
    const got: Decoded[] = [];
    for (let rounds = 0; writer.pending || reader.readable; rounds++) {
      expect(rounds).toBeLessThan(100);
      readAll(reader, got);
      writer.drain();
    }
    expect(got.map((r) => r.cmd)).toEqual(["big", "after"]);
    const body = got[0].body as unknown[];
    expect(body[0]).toBe(big[0]);
    expect([...(body[1] as Buffer)]).toEqual([...(big[1] as Uint8Array)]);
    expect(body[2]).toBe(big[2]);
    expect(got[1].body).toBe(7);
  });

  it("what a record decodes to never aliases the ring: bytes (alone, in a list, inside msgpack) are copies that outlive the frame", () => {
    const memory = createRing(1024);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const got: Decoded[] = [];
    put(writer, 1, "bytes", Uint8Array.of(1, 2, 3));
    put(writer, 2, "list", [Uint8Array.of(4, 5), "s"]);
    put(writer, 3, "packed", { b: Uint8Array.of(6, 7) });
    readAll(reader, got);
    const decoded = [got[0].body, (got[1].body as unknown[])[0], (got[2].body as { b: Uint8Array }).b] as Uint8Array[];
    for (const bytes of decoded) {
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(bytes.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    }
    // The writer reuses the space: the copies stay as they were.
    for (let i = 0; i < 20; i++) {
      put(writer, 10 + i, "fill", new Uint8Array(100).fill(0xee));
      readAll(reader, []);
    }
    expect(decoded.map((b) => [...b])).toEqual([[1, 2, 3], [4, 5], [6, 7]]);
  });
});

describe("malformed records", () => {
  it("are refused with RecordError (WEFT_RECORD)", () => {
    expectRecordError(() => decode(Buffer.alloc(19)), /shorter than its 20-byte header/);
    expectRecordError(() => decode(handmade(BodyKind.Bytes, [1, 2, 3], { bodyLength: 2 })), /says its command and body take 0 \+ 2/);
    expectRecordError(() => decode(handmade(BodyKind.None, [0x61], { cmdLength: 2, bodyLength: 0 })), /take 2 \+ 0/);
    expectRecordError(() => decode(handmade(9, [])), /body kind 9/);
    // A list that says it has more items than it carries, or carries more than it says.
    expectRecordError(() => decode(handmade(BodyKind.List, [...u32(2), 1])), /runs past the end/);
    expectRecordError(() => decode(handmade(BodyKind.List, [...u32(1), 1, 1])), /list body ends at 5 of its 6 bytes/);
    // Items: an unknown tag, a string or bytes longer than the record.
    expectRecordError(() => decode(handmade(BodyKind.Value, [42])), /tag 42/);
    expectRecordError(() => decode(handmade(BodyKind.Value, [5, ...u32(10), 0x61])), /runs past the end/);
    expectRecordError(() => decode(handmade(BodyKind.List, [...u32(1), 6, ...u32(100), 1, 2])), /runs past the end/);
    // A number cut short inside a list (with bytes after the record): refused before a byte past it is read.
    expectRecordError(() => decode(handmade(BodyKind.List, [...u32(1), 4, 0, 0], { slack: 16 }), 0, RECORD_HEADER + 7), /runs past the end/);
  });

  // A VALUE body is one item, ending where the body ends; a Number's 8 bytes lie inside the record.
  it("a VALUE whose item does not fill its body exactly is refused with RecordError", () => {
    const short = handmade(BodyKind.Value, [4, ...f64(1.5).slice(0, 2)], { slack: 6 });
    short.set(f64(1.5).slice(2), RECORD_HEADER + 3); // what would complete the number lies past the record
    expectRecordError(() => decode(short, 0, RECORD_HEADER + 3), /past the end/);
    expectRecordError(() => decode(handmade(BodyKind.Value, [2, 0, 0, 0])), /./);
    expectRecordError(() => decode(handmade(BodyKind.Value, [4, 0, 0])), /./);
  });

  it("a MSGPACK body cut short is refused with RecordError", () => {
    const cut = packr.pack([1, 2]).subarray(0, 2);
    expectRecordError(() => decode(handmade(BodyKind.Msgpack, [...cut])), /./);
  });
});
