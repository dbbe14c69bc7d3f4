/**
 * sharedata (lib/sharedata, sharedatad, one copy per worker): readers on other workers see a
 * table and its updates without querying again, each worker decodes each version once, views
 * are read-only, unknown and deleted names are refused clearly.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { NameTakenError, NoSuchSharedataError, type Address, type ReadOnly, type Runtime } from "weft";
import type Reader from "./fixtures/sd_reader.js";
import type Writer from "./fixtures/sd_writer.js";
import { rejectionOf, useRuntime } from "./helpers.js";

const shared = useRuntime();
let tables = 0;
/** Each test uses names of its own, since the runtime is shared. */
const fresh = (label: string) => `${label}-${++tables}`;

async function writer(rt: Runtime, worker = 1) {
  return rt.proxy<typeof Writer>((await rt.newServiceOn(worker, "sd_writer")) as Address<typeof Writer>);
}

async function readers(rt: Runtime, worker: number, n: number) {
  const list = [];
  for (let i = 0; i < n; i++) list.push(rt.proxy<typeof Reader>((await rt.newServiceOn(worker, "sd_reader")) as Address<typeof Reader>));
  return list;
}

const config = (round: number) => ({ title: `round ${round}`, nested: { deep: round, list: [round] }, list: [3, 1, 2], blob: Buffer.from([round]) });

/** A fresh table holding config(round), made by a writer on worker 1 and queried by a reader on worker 2. */
async function tableWithReader(label: string, round: number) {
  const rt = shared();
  const name = fresh(label);
  const w = await writer(rt, 1);
  await w.create(name, config(round));
  const [r] = await readers(rt, 2, 1);
  await r.query(name);
  return { rt, name, w, r: r! };
}

describe("reading and updating", () => {
  it("a reader on another worker sees the table, and each update without querying again", async () => {
    const rt = shared();
    const name = fresh("config");
    const w = await writer(rt, 1);
    expect(await w.create(name, config(1))).toBe(1);
    const [r] = await readers(rt, 2, 1);
    expect(await r.query(name)).toBe(1);
    expect(await r.read("title")).toBe("round 1");
    await r.keep("nested");

    // update resolves once every worker holding a copy has the new version: nothing to wait for after.
    expect(await w.update(name, config(2))).toBe(2);
    expect(await r.read("title")).toBe("round 2");
    expect(await r.read("nested", "list")).toEqual([2]);
    expect(await r.version()).toBe(2);
    // A nested object taken before the update reads the new version too.
    expect(await r.readKept("deep")).toBe(2);

    expect(await w.update(name, { title: "smaller" })).toBe(3);
    expect(await r.read()).toEqual({ title: "smaller" });
    expect(await r.readKept("deep")).toBeNull();
  });

  it("each worker decodes each version once, whatever the number of readers there", async () => {
    const rt = shared();
    const name = fresh("shared");
    const w = await writer(rt, 1);
    await w.create(name, config(1));
    const all = [...(await readers(rt, 1, 3)), ...(await readers(rt, 2, 3))];
    // Concurrent first queries on one worker share one fetch.
    await Promise.all(all.map((r) => r.query(name)));
    await w.update(name, config(2));
    await w.update(name, config(3));
    for (const r of all) {
      expect(await r.read("title")).toBe("round 3");
      expect(await r.sameView(name)).toBe(true);
    }
    for (const r of [all[0], all[3]]) {
      expect((await r.stat()).find((s) => s.name === name)).toEqual({ name, version: 3, decodes: 3 });
    }
  });

  it("after updates racing with first queries, every reader ends on the last version", async () => {
    const rt = shared();
    const name = fresh("race");
    const w = await writer(rt, 1);
    await w.create(name, { n: 0 });
    const all = [...(await readers(rt, 1, 4)), ...(await readers(rt, 2, 4))];
    const updates = Array.from({ length: 20 }, (_, i) => w.update(name, { n: i + 1 }));
    await Promise.all([...updates, ...all.map((r) => r.query(name))]);
    expect(await Promise.all(updates)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    for (const r of all) expect(await r.read("n")).toBe(20);
  });

  it("views behave like the plain table for reads: keys, JSON, array methods, spread; Buffers come as copies", async () => {
    const { r } = await tableWithReader("shape", 7);
    expect(await r.shape()).toEqual({
      keys: ["title", "nested", "list", "blob"],
      json: JSON.stringify(config(7)),
      isArray: true,
      doubled: [6, 2, 4],
      spread: { deep: 7, list: [7] },
      has: true,
      blobFirst: 7,
      isBuffer: true,
    });
  });
});

describe("read-only views", () => {
  it("every kind of write throws ReadOnlyError and changes nothing", async () => {
    const { name, r } = await tableWithReader("frozen", 1);
    const results = await r.tryWrites();
    expect(results).toHaveLength(9);
    for (const result of results) {
      expect(result, result.what).toMatchObject({ name: "ReadOnlyError", code: "WEFT_READ_ONLY" });
      expect(result.message).toMatch(new RegExp(`sharedata "${name}" is read-only`));
    }
    expect(results[2].message).toMatch(/cannot set "nested.deep"/);
    expect(await r.read()).toEqual(JSON.parse(JSON.stringify(config(1))));
  });
});

describe("refusals", () => {
  it("a query for an unknown name rejects with NoSuchSharedataError", async () => {
    const rt = shared();
    const [r] = await readers(rt, 2, 1);
    const err = await rejectionOf(r.query("never-created"));
    expect(err).toBeInstanceOf(NoSuchSharedataError);
    expect(err.code).toBe("WEFT_NO_SUCH_SHAREDATA");
    expect(err.message).toMatch(/there is no sharedata "never-created"/);
    const w = await writer(rt, 1);
    expect((await rejectionOf(w.update("never-created", {}))).code).toBe("WEFT_NO_SUCH_SHAREDATA");
  });

  it("refuses a second create of a name, a value that is not an object, and one that cannot be encoded", async () => {
    const rt = shared();
    const name = fresh("twice");
    const w = await writer(rt, 1);
    await w.create(name, { a: 1 });
    expect(await rejectionOf(w.create(name, { a: 2 }))).toBeInstanceOf(NameTakenError);
    expect((await rejectionOf(w.update(name, [1, 2]))).cause).toMatchObject({ name: "TypeError", message: `sharedata "${name}" must be a plain object, not an array` });
    expect((await rejectionOf(w.createWithFunction(fresh("fn")))).cause).toMatchObject({ code: "WEFT_ENCODE" });
    const [r] = await readers(rt, 2, 1);
    await r.query(name);
    expect(await r.read()).toEqual({ a: 1 });
  });

  it("after delete, queries reject while views already held keep the last version; the name can be created again", async () => {
    const rt = shared();
    const name = fresh("gone");
    const w = await writer(rt, 1);
    await w.create(name, { v: "old" });
    const [holder] = await readers(rt, 2, 1);
    await holder.query(name);
    expect(await w.delete(name)).toBe(true);
    expect(await w.delete(name)).toBe(false);
    const [late] = await readers(rt, 2, 1);
    expect((await rejectionOf(late.query(name))).message).toMatch(/it was deleted/);
    expect(await holder.read("v")).toBe("old");

    expect(await w.create(name, { v: "new" })).toBe(2);
    expect(await late.query(name)).toBe(2);
    expect(await late.read("v")).toBe("new");
    expect(await holder.read("v")).toBe("old");
  });
});

describe("a sharedata_worker that is killed", () => {
  it("leaves no dead worker behind: the next query there starts a new one, which brings the views already held up to date", async () => {
    const rt = shared();
    const [held, kept] = [fresh("held"), fresh("kept")];
    const w = await writer(rt, 1);
    await w.create(held, { v: 1 });
    await w.create(kept, { v: "k" });
    const [r, late] = await readers(rt, 2, 2);
    await r.query(held);
    const sharedatad = rt.proxy<{ list(): { name: string; workers: number }[] }>(await rt.queryService("sharedatad"));
    const workersOf = async (name: string) => (await sharedatad.list()).find((t) => t.name === name)?.workers;
    expect(await workersOf(held)).toBe(1);
    const killed = (await r.worker())!;

    // As from the console: by the time kill resolves, sharedatad no longer counts worker 2.
    expect(await rt.kill(killed)).toBe(true);
    expect(await r.worker()).toBeUndefined();
    expect(await workersOf(held)).toBe(0);
    expect(await w.update(held, { v: 2 })).toBe(2);

    expect(await late.query(kept)).toBe(1);
    const replacement = await late.worker();
    expect(replacement).toBeGreaterThan(0);
    expect(replacement).not.toBe(killed);
    // The new worker fetched what the old one held, so the view r got before reads version 2.
    expect(await r.read("v")).toBe(2);
    expect(await workersOf(held)).toBe(1);
    expect(await w.update(held, { v: 3 })).toBe(3);
    expect(await r.read("v")).toBe(3);
    expect(await r.sameView(held)).toBe(true);
  });
});

describe("types", () => {
  it("a view is read-only at every level", () => {
    type View = ReadOnly<{ title: string; nested: { list: number[] } }>;
    expectTypeOf<View>().toEqualTypeOf<{ readonly title: string; readonly nested: { readonly list: readonly number[] } }>();
  });
});
