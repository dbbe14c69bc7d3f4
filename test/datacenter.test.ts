/** lib/datacenter: one tree of values for the node, read and awaited from any worker. */
import { describe, expect, it } from "vitest";
import { RemoteError } from "weft";
import { useRuntime } from "./helpers.js";

const runtime = useRuntime();

async function users() {
  const rt = runtime();
  return { rt, one: await rt.newServiceOn(1, "dc_user"), two: await rt.newServiceOn(2, "dc_user") };
}

describe("datacenter", () => {
  it("a value set on one worker is read on another, by path or as a subtree", async () => {
    const { rt, one, two } = await users();
    expect(await rt.call(one, "set", "config", "world", { seed: 7, name: "north" })).toBeUndefined();
    expect(await rt.call(two, "get", "config", "world", "seed")).toBe(7);
    expect(await rt.call(two, "get", "config")).toEqual({ world: { seed: 7, name: "north" } });
    expect(await rt.call(two, "get", "config", "nowhere", "deep")).toBeUndefined();
    // set answers with what it replaced; null removes the key.
    expect(await rt.call(two, "set", "config", "world", "seed", 8)).toBe(7);
    expect(await rt.call(one, "set", "config", "world", "name", null)).toBe("north");
    expect(await rt.call(one, "get", "config", "world")).toEqual({ seed: 8 });
  });

  it("wait resolves when the value is set later, for every waiter", async () => {
    const { rt, one, two } = await users();
    const first = rt.call(one, "wait", "room", 12, "owner");
    const second = rt.call(two, "wait", "room", 12, "owner");
    // Neither can have answered yet: the value they resolve with does not exist before this set.
    await rt.call(one, "set", "room", 12, "owner", "alice");
    expect(await Promise.all([first, second])).toEqual(["alice", "alice"]);
    // A value already there answers at once.
    expect(await rt.call(two, "wait", "room", 12, "owner")).toBe("alice");
  });

  it("wait is answered by setting an ancestor that holds the path, or a descendant of it", async () => {
    const { rt, one, two } = await users();
    const leaf = rt.call(one, "wait", "lobby", "7", "topic");
    const branch = rt.call(two, "wait", "guild");
    await rt.call(two, "set", "lobby", { 7: { topic: "raids" } });
    await rt.call(one, "set", "guild", "red", "leader", "bob");
    expect(await leaf).toBe("raids");
    expect(await branch).toEqual({ red: { leader: "bob" } });
  });

  it("refuses __proto__ as a key and keeps inherited properties out of the tree", async () => {
    const { rt, one } = await users();
    await expect(rt.call(one, "set", "__proto__", "polluted", 1)).rejects.toThrow(/"__proto__" cannot be a datacenter key/);
    expect(await rt.call(one, "get", "polluted")).toBeUndefined();
    expect(await rt.call(one, "get", "constructor")).toBeUndefined();
    expect(await rt.call(one, "get", "toString")).toBeUndefined();
    // An own key of that name is an ordinary value.
    await rt.call(one, "set", "constructor", "builder");
    expect(await rt.call(one, "wait", "constructor")).toBe("builder");
  });

  it("refuses to set below a key that holds a value, as skynet does", async () => {
    const { rt, one, two } = await users();
    await rt.call(one, "set", "scalar", 5);
    await expect(rt.call(two, "set", "scalar", "below", 1)).rejects.toThrow(/\["scalar"\] holds a value, not a branch/);
    expect(await rt.call(one, "get", "scalar")).toBe(5);
  });

  it("removing a path that does not exist makes no branch and wakes no one", async () => {
    const { rt, one, two } = await users();
    const waiting = rt.call(two, "wait", "ghost");
    expect(await rt.call(one, "set", "ghost", "town", null)).toBeUndefined();
    expect(await rt.call(one, "get", "ghost")).toBeUndefined();
    // The waiter is still waiting: it gets the value set now, not an empty branch from before.
    await rt.call(one, "set", "ghost", "real");
    expect(await waiting).toBe("real");
  });

  it("refuses a set without a path with a clear error, and keeps serving", async () => {
    const { rt, one } = await users();
    const err = await rt.call(one, "set", "lonely value").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toMatch(/at least 1 key/);
    await rt.call(one, "set", "ok", 1);
    expect(await rt.call(one, "get", "ok")).toBe(1);
  });
});
