import { describe, expect, it } from "vitest";
import { netpack } from "weft";
import { seededRandom } from "./helpers.js";

type Packet = { fd: number; msg: Buffer };

/** Everything one filter result delivered: the `data` packet, or every packet popped after `more`. */
function take(queue: netpack.NetpackQueue, result: netpack.FilterResult | undefined): Packet[] {
  if (result === undefined) return [];
  if (result.type === "data") return [{ fd: result.fd, msg: result.msg }];
  if (result.type !== "more") throw new Error(`unexpected ${result.type}`);
  const out: Packet[] = [];
  for (let p = netpack.pop(queue); p !== undefined; p = netpack.pop(queue)) out.push(p);
  return out;
}

function feed(queue: netpack.NetpackQueue, fd: number, ...chunks: Buffer[]): Packet[] {
  return chunks.flatMap((data) => take(queue, netpack.filter(queue, { type: "data", fd, data })));
}

const bytes = (n: number, seed = 0): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const texts = (packets: Packet[]): string[] => packets.map((p) => netpack.tostring(p.msg));


describe("netpack framing", () => {
  it("adds a 2-byte big-endian length header", () => {
    expect([...netpack.pack("hi")]).toEqual([0, 2, 0x68, 0x69]);
    expect([...netpack.pack(new Uint8Array([1, 2, 3]))]).toEqual([0, 3, 1, 2, 3]);
    expect([...netpack.pack(bytes(258)).subarray(0, 2)]).toEqual([1, 2]);
  });

  it("round-trips strings through pack, filter and tostring", () => {
    const queue = netpack.createQueue();
    const words = ["hello", "", "héllo wörld", "€uro", "日本語", "🙂"];
    for (const word of words) {
      const r = netpack.filter(queue, { type: "data", fd: 7, data: netpack.pack(word) });
      expect(r?.type).toBe("data");
      expect(texts(take(queue, r))).toEqual([word]);
    }
  });

  it("decodes a packet that is a view into a larger buffer", () => {
    const chunk = Buffer.concat([netpack.pack("first"), netpack.pack("sécond")]);
    const queue = netpack.createQueue();
    expect(texts(feed(queue, 1, chunk))).toEqual(["first", "sécond"]);
  });
});

describe("netpack reassembles packets split across reads", () => {
  it("completes a packet split at every byte position, including between the header bytes", () => {
    const payload = bytes(258, 5); // 258 = 0x0102, so both header bytes matter
    const frame = netpack.pack(payload);
    for (let cut = 1; cut < frame.length; cut++) {
      const queue = netpack.createQueue();
      expect(netpack.filter(queue, { type: "data", fd: 1, data: frame.subarray(0, cut) }), `cut ${cut}`).toBeUndefined();
      const r = netpack.filter(queue, { type: "data", fd: 1, data: frame.subarray(cut) });
      expect(r?.type, `cut ${cut}`).toBe("data");
      expect(r?.type === "data" && r.msg.equals(payload), `cut ${cut}`).toBe(true);
      expect(netpack.pop(queue)).toBeUndefined();
    }
  });

  it("completes a packet cut into three reads at every pair of positions", () => {
    const payload = bytes(40, 9);
    const frame = netpack.pack(payload);
    for (let a = 1; a < frame.length; a++) {
      for (let b = a + 1; b < frame.length; b++) {
        const queue = netpack.createQueue();
        const got = feed(queue, 1, frame.subarray(0, a), frame.subarray(a, b), frame.subarray(b));
        expect(got.length, `cuts ${a},${b}`).toBe(1);
        expect(got[0]!.msg.equals(payload), `cuts ${a},${b}`).toBe(true);
      }
    }
  });

  it("splits two back-to-back packets correctly wherever the read boundary falls", () => {
    const stream = Buffer.concat([netpack.pack("alpha"), netpack.pack(""), netpack.pack("gamma!")]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const queue = netpack.createQueue();
      const got = feed(queue, 1, stream.subarray(0, cut), stream.subarray(cut));
      expect(texts(got), `cut ${cut}`).toEqual(["alpha", "", "gamma!"]);
    }
  });

  it("reassembles a stream of several packets fed one byte at a time", () => {
    const words = ["a", "", "bc", "def", ""];
    const stream = Buffer.concat(words.map((w) => netpack.pack(w)));
    const queue = netpack.createQueue();
    const got: Packet[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...feed(queue, 3, stream.subarray(i, i + 1)));
    expect(texts(got)).toEqual(words);
  });

  it("delivers a 64 KiB packet fed one byte at a time byte-exact", () => {
    const payload = bytes(65535, 17);
    const frame = netpack.pack(payload);
    const queue = netpack.createQueue();
    let result: netpack.FilterResult | undefined;
    for (let i = 0; i < frame.length; i++) {
      result = netpack.filter(queue, { type: "data", fd: 2, data: frame.subarray(i, i + 1) });
      if (i < frame.length - 1 && result !== undefined) throw new Error(`early result at byte ${i}`);
    }
    expect(result?.type).toBe("data");
    expect(result?.type === "data" && result.fd === 2 && result.msg.equals(payload)).toBe(true);
  });
});

describe("netpack with several packets in one read", () => {
  it("answers more for two packets, and pop returns them in order", () => {
    const queue = netpack.createQueue();
    const r = netpack.filter(queue, { type: "data", fd: 4, data: Buffer.concat([netpack.pack("one"), netpack.pack("two")]) });
    expect(r).toEqual({ type: "more" });
    expect(netpack.tostring(netpack.pop(queue)!.msg)).toBe("one");
    const second = netpack.pop(queue)!;
    expect(second.fd).toBe(4);
    expect(netpack.tostring(second.msg)).toBe("two");
    expect(netpack.pop(queue)).toBeUndefined();
  });

  it("answers more when a read finishes a partial packet and carries another whole one", () => {
    const stream = Buffer.concat([netpack.pack("first"), netpack.pack("second")]);
    const queue = netpack.createQueue();
    expect(netpack.filter(queue, { type: "data", fd: 1, data: stream.subarray(0, 4) })).toBeUndefined();
    expect(netpack.filter(queue, { type: "data", fd: 1, data: stream.subarray(4) })).toEqual({ type: "more" });
    expect(texts(take(queue, { type: "more" }))).toEqual(["first", "second"]);
  });

  it("returns 10,000 small packets from one chunk in order, as views of the chunk", () => {
    const chunk = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => netpack.pack(`packet ${i}`)));
    const queue = netpack.createQueue();
    const got = feed(queue, 9, chunk);
    expect(got.length).toBe(10_000);
    got.forEach((p, i) => {
      if (p.fd !== 9 || netpack.tostring(p.msg) !== `packet ${i}`) throw new Error(`packet ${i} wrong: ${netpack.tostring(p.msg)}`);
    });
    expect(got.every((p) => p.msg.buffer === chunk.buffer)).toBe(true);
  });

  it("keeps packets a caller left queued ahead of later ones", () => {
    const queue = netpack.createQueue();
    netpack.filter(queue, { type: "data", fd: 1, data: Buffer.concat([netpack.pack("a"), netpack.pack("b"), netpack.pack("c")]) });
    expect(netpack.tostring(netpack.pop(queue)!.msg)).toBe("a");
    // "b" and "c" are still queued: a single new packet must not overtake them.
    expect(netpack.filter(queue, { type: "data", fd: 1, data: netpack.pack("d") })).toEqual({ type: "more" });
    expect(texts(take(queue, { type: "more" }))).toEqual(["b", "c", "d"]);
  });

  it("keeps order over thousands of reads while a caller always leaves one packet queued", () => {
    const queue = netpack.createQueue();
    const popped: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const fd = 1 + (i % 2);
      const data = Buffer.concat([netpack.pack(`${2 * i}`), netpack.pack(`${2 * i + 1}`)]);
      expect(netpack.filter(queue, { type: "data", fd, data })).toEqual({ type: "more" });
      for (let k = i === 0 ? 1 : 2; k > 0; k--) {
        const p = netpack.pop(queue)!;
        expect(p.fd).toBe(1 + (Number(netpack.tostring(p.msg)) >> 1) % 2);
        popped.push(netpack.tostring(p.msg));
      }
    }
    popped.push(...texts(take(queue, { type: "more" })));
    expect(popped).toEqual(Array.from({ length: 6000 }, (_, i) => `${i}`));
  });
});

describe("netpack packet sizes", () => {
  it("delivers a zero-length packet as an empty Buffer", () => {
    const queue = netpack.createQueue();
    const r = netpack.filter(queue, { type: "data", fd: 1, data: Buffer.from([0, 0]) });
    expect(r?.type).toBe("data");
    expect(r?.type === "data" && Buffer.isBuffer(r.msg) && r.msg.length === 0).toBe(true);
    // A zero-length packet whose header is split across two reads.
    expect(netpack.filter(queue, { type: "data", fd: 1, data: Buffer.from([0]) })).toBeUndefined();
    const split = netpack.filter(queue, { type: "data", fd: 1, data: Buffer.from([0]) });
    expect(split?.type === "data" && split.msg.length).toBe(0);
  });

  it("delivers a 65535-byte packet in one read", () => {
    const payload = bytes(65535, 3);
    const frame = netpack.pack(payload);
    expect([frame[0], frame[1], frame.length]).toEqual([0xff, 0xff, 65537]);
    const queue = netpack.createQueue();
    const got = feed(queue, 1, frame);
    expect(got.length).toBe(1);
    expect(got[0]!.msg.equals(payload)).toBe(true);
  });

  it("packs 65535 bytes and refuses 65536 with PacketTooLargeError, never truncating", () => {
    const expectTooLarge = (payload: Uint8Array | string, size: number) => {
      let caught: unknown;
      try {
        netpack.pack(payload);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(Error);
      const err = caught as Error & { code?: string };
      expect(err.code).toBe("WEFT_PACKET_TOO_LARGE");
      expect(err.name).toBe("PacketTooLargeError");
      expect(err.message).toContain(String(size));
    };
    expect(netpack.pack(Buffer.alloc(65535)).length).toBe(65537);
    expect(netpack.pack("x".repeat(65535)).length).toBe(65537);
    expectTooLarge(Buffer.alloc(65536), 65536);
    expectTooLarge(new Uint8Array(100_000), 100_000);
    expectTooLarge("x".repeat(65536), 65536);
  });

  it("counts a string's utf8 bytes, not its characters, against the limit", () => {
    expect(netpack.pack("€".repeat(21845)).length).toBe(2 + 65535); // 3 bytes each
    let code: unknown;
    try {
      netpack.pack("é".repeat(32768)); // 32768 characters, 65536 bytes
    } catch (err) {
      code = (err as { code?: unknown }).code;
    }
    expect(code).toBe("WEFT_PACKET_TOO_LARGE");
  });
});

describe("netpack.packMany", () => {
  it("frames several payloads back to back, exactly as pack does one by one", () => {
    const random = seededRandom(7);
    const payloads: (Uint8Array | string)[] = [Buffer.alloc(0), "héllo €", Buffer.alloc(65535, 3)];
    for (let i = 0; i < 50; i++) payloads.push(Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
    expect(netpack.packMany(payloads)).toEqual(Buffer.concat(payloads.map((p) => netpack.pack(p))));
    expect(netpack.packMany([])).toEqual(Buffer.alloc(0));
  });

  it("refuses the whole batch when one payload is over 65535 bytes", () => {
    expect(() => netpack.packMany(["ok", Buffer.alloc(65536)])).toThrow(/65536 bytes exceeds the 65535-byte limit/);
    expect(() => netpack.packMany(["é".repeat(32768)])).toThrow(/65536 bytes/);
  });
});

describe("netpack connection events", () => {
  const partialThen = (queue: netpack.NetpackQueue, fd: number) => {
    // Header says 10 bytes; only 3 arrive before the event.
    expect(netpack.filter(queue, { type: "data", fd, data: Buffer.from([0, 10, 1, 2, 3]) })).toBeUndefined();
  };

  it("discards the partial packet on close; a new connection on that fd starts clean", () => {
    const queue = netpack.createQueue();
    partialThen(queue, 5);
    expect(netpack.filter(queue, { type: "close", fd: 5 })).toEqual({ type: "close", fd: 5 });
    expect(netpack.filter(queue, { type: "open", fd: 5, addr: "127.0.0.1:4000" })).toEqual({ type: "open", fd: 5, addr: "127.0.0.1:4000" });
    expect(texts(feed(queue, 5, netpack.pack("fresh")))).toEqual(["fresh"]);
  });

  it("discards the partial packet on error", () => {
    const queue = netpack.createQueue();
    partialThen(queue, 5);
    expect(netpack.filter(queue, { type: "error", fd: 5, message: "ECONNRESET" })).toEqual({ type: "error", fd: 5, message: "ECONNRESET" });
    expect(texts(feed(queue, 5, netpack.pack("fresh")))).toEqual(["fresh"]);
  });

  it("discards half a header on close", () => {
    const queue = netpack.createQueue();
    expect(netpack.filter(queue, { type: "data", fd: 5, data: Buffer.from([0xff]) })).toBeUndefined();
    netpack.filter(queue, { type: "close", fd: 5 });
    expect(texts(feed(queue, 5, netpack.pack("ok")))).toEqual(["ok"]);
  });

  it("resets stale partial state when an fd is opened again without a close", () => {
    const queue = netpack.createQueue();
    partialThen(queue, 6);
    netpack.filter(queue, { type: "open", fd: 6, addr: "10.0.0.1:1" });
    expect(texts(feed(queue, 6, netpack.pack("new")))).toEqual(["new"]);
  });

  it("closing one fd leaves another fd's partial packet alone", () => {
    const queue = netpack.createQueue();
    const frame = netpack.pack("survivor");
    feed(queue, 1, frame.subarray(0, 4));
    partialThen(queue, 2);
    netpack.filter(queue, { type: "close", fd: 2 });
    expect(texts(feed(queue, 1, frame.subarray(4)))).toEqual(["survivor"]);
  });

  it("passes warnings through", () => {
    const queue = netpack.createQueue();
    expect(netpack.filter(queue, { type: "warning", fd: 3, size: 1024 })).toEqual({ type: "warning", fd: 3, size: 1024 });
  });
});

describe("netpack with several connections on one queue", () => {
  it("never mixes packets of interleaved fds", () => {
    const queue = netpack.createQueue();
    const a = netpack.pack("from-a");
    const b = netpack.pack("from-b");
    expect(feed(queue, 1, a.subarray(0, 1))).toEqual([]);
    expect(feed(queue, 2, b.subarray(0, 3))).toEqual([]);
    expect(feed(queue, 1, a.subarray(1, 5))).toEqual([]);
    const fromB = feed(queue, 2, b.subarray(3));
    expect(fromB.map((p) => [p.fd, netpack.tostring(p.msg)])).toEqual([[2, "from-b"]]);
    const fromA = feed(queue, 1, a.subarray(5));
    expect(fromA.map((p) => [p.fd, netpack.tostring(p.msg)])).toEqual([[1, "from-a"]]);
  });

  it("interleaves two byte-at-a-time streams", () => {
    const queue = netpack.createQueue();
    const s1 = Buffer.concat(["x1", "x2", ""].map((w) => netpack.pack(w)));
    const s2 = Buffer.concat(["y1", "", "y3"].map((w) => netpack.pack(w)));
    const got: Packet[] = [];
    for (let i = 0; i < Math.max(s1.length, s2.length); i++) {
      if (i < s1.length) got.push(...feed(queue, 1, s1.subarray(i, i + 1)));
      if (i < s2.length) got.push(...feed(queue, 2, s2.subarray(i, i + 1)));
    }
    expect(texts(got.filter((p) => p.fd === 1))).toEqual(["x1", "x2", ""]);
    expect(texts(got.filter((p) => p.fd === 2))).toEqual(["y1", "", "y3"]);
  });
});

describe("netpack clear", () => {
  it("drops partial packets and queued packets", () => {
    const queue = netpack.createQueue();
    netpack.filter(queue, { type: "data", fd: 1, data: Buffer.concat([netpack.pack("q1"), netpack.pack("q2")]) });
    partialOf(queue, 2);
    netpack.clear(queue);
    expect(netpack.pop(queue)).toBeUndefined();
    expect(texts(feed(queue, 2, netpack.pack("clean")))).toEqual(["clean"]);
    expect(texts(feed(queue, 1, netpack.pack("clean too")))).toEqual(["clean too"]);
  });

  function partialOf(queue: netpack.NetpackQueue, fd: number): void {
    expect(netpack.filter(queue, { type: "data", fd, data: Buffer.from([0, 200, 7]) })).toBeUndefined();
  }
});

describe("netpack fuzz", () => {
  const envSeed = process.env.WEFT_FUZZ_SEED;
  const seeds = envSeed ? [Number(envSeed)] : [1, 42, 0xc0ffee, 20240611];

  it.each(seeds)("reassembles random streams on interleaved fds byte-exact (seed %i)", (seed) => {
    const rand = seededRandom(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const size = () => {
      const r = rand();
      if (r < 0.02) return rand() < 0.5 ? 0 : 65535;
      if (r < 0.7) return int(0, 64);
      if (r < 0.92) return int(65, 4096);
      return int(4097, 65535);
    };
    const fds = Array.from({ length: int(2, 3) }, (_, i) => 100 + i);
    const sent = new Map<number, Buffer[]>();
    const chunks = new Map<number, Buffer[]>();
    for (const fd of fds) {
      const payloads = Array.from({ length: int(50, 200) }, () => {
        const b = Buffer.allocUnsafe(size());
        for (let i = 0; i < b.length; i++) b[i] = (rand() * 256) | 0;
        return b;
      });
      sent.set(fd, payloads);
      const stream = Buffer.concat(payloads.map((p) => netpack.pack(p)));
      const cuts: Buffer[] = [];
      for (let off = 0; off < stream.length; ) {
        const len = rand() < 0.3 ? int(1, 8) : int(1, 6000);
        cuts.push(stream.subarray(off, off + len));
        off += len;
      }
      chunks.set(fd, cuts);
    }

    const queue = netpack.createQueue();
    const got = new Map<number, Buffer[]>(fds.map((fd) => [fd, []]));
    const next = new Map<number, number>(fds.map((fd) => [fd, 0]));
    for (;;) {
      const live = fds.filter((fd) => next.get(fd)! < chunks.get(fd)!.length);
      if (live.length === 0) break;
      const fd = live[int(0, live.length - 1)]!;
      const i = next.get(fd)!;
      next.set(fd, i + 1);
      for (const p of feed(queue, fd, chunks.get(fd)![i]!)) got.get(p.fd)!.push(p.msg);
    }

    for (const fd of fds) {
      const want = sent.get(fd)!;
      const have = got.get(fd)!;
      expect(have.length, `seed ${seed} fd ${fd}: packet count`).toBe(want.length);
      const bad = want.findIndex((w, i) => !w.equals(have[i]!));
      expect(bad, `seed ${seed} fd ${fd}: first mismatching packet`).toBe(-1);
    }
    expect(netpack.pop(queue), `seed ${seed}: queue drained`).toBeUndefined();
  });
});
