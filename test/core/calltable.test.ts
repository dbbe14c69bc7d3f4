/**
 * The call table: every way a call ends (answer, timeout, abort, its callee's worker lost, the
 * caller's exit) ends it exactly once, and whatever comes after finds nothing. Timeouts run on
 * vi's fake setTimeout; the end-to-end case runs over the loopback (its rings poll with
 * setImmediate, which stays real).
 */
import { getEventListeners } from "node:events";
import { setImmediate as nextImmediate } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CallTimeoutError, WorkerLostError } from "weft";
import { CallTable, hostHandle } from "weft/internal";
import { loopback } from "./harness.js";

const on = (slot: number, local: number) => (hostHandle(slot) | local) >>> 0;

/** A call's outcome, recorded: how many times each side was called, and with what. */
function outcome() {
  const o = {
    resolved: [] as unknown[],
    rejected: [] as Error[],
    resolve: (value: unknown) => void o.resolved.push(value),
    reject: (err: Error) => void o.rejected.push(err),
  };
  return o;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the call table", () => {
  it("a timeout fails the call with CallTimeoutError (WEFT_CALL_TIMEOUT) once, and its late answer finds nothing", () => {
    const table = new CallTable();
    const o = outcome();
    const session = table.add(on(2, 5), "get", o.resolve, o.reject, 100);
    expect(session).toBeGreaterThan(0);
    vi.advanceTimersByTime(99);
    expect(o.rejected).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(o.rejected).toHaveLength(1);
    const [err] = o.rejected;
    expect(err).toBeInstanceOf(CallTimeoutError);
    expect(err).toMatchObject({ code: "WEFT_CALL_TIMEOUT", name: "CallTimeoutError" });
    expect(err.message).toBe(':02000005 did not answer "get" within 100 ms');
    expect(table.size).toBe(0);
    // The answer comes late: nothing to give it to.
    expect(table.take(session)).toBeUndefined();
    expect(table.fail(session, new Error("again"))).toBe(false);
    vi.advanceTimersByTime(10_000);
    expect(o.rejected).toHaveLength(1);
    expect(o.resolved).toEqual([]);
  });

  it("timeout 0 means no timer at all", () => {
    const table = new CallTable();
    const o = outcome();
    table.add(on(1, 1), "wait", o.resolve, o.reject, 0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1e9);
    expect(table.size).toBe(1);
  });

  it("an answer ends the call once: its timer is cleared, a second answer and a later failure find nothing", () => {
    const table = new CallTable();
    const o = outcome();
    const session = table.add(on(2, 1), "get", o.resolve, o.reject, 100);
    expect(vi.getTimerCount()).toBe(1);
    const call = table.take(session);
    expect(call).toMatchObject({ dest: on(2, 1), cmd: "get" });
    call!.resolve("first");
    expect(vi.getTimerCount()).toBe(0);
    expect(table.take(session)).toBeUndefined();
    expect(table.fail(session, new Error("late"))).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(o.resolved).toEqual(["first"]);
    expect(o.rejected).toEqual([]);
  });

  it("an abort signal gives the call up with CallTimeoutError, once, and stops listening", () => {
    const table = new CallTable();
    const controller = new AbortController();
    const o = outcome();
    const session = table.add(on(2, 1), "slow", o.resolve, o.reject, 1000, controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    expect(o.rejected).toHaveLength(1);
    expect(o.rejected[0]).toBeInstanceOf(CallTimeoutError);
    expect(o.rejected[0].message).toBe('gave up waiting for :02000001 to answer "slow"');
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(table.take(session)).toBeUndefined();
    vi.advanceTimersByTime(2000);
    expect(o.rejected).toHaveLength(1);
  });

  it("a long-lived signal keeps no listener of a call that ended, however it ended", () => {
    const table = new CallTable();
    const controller = new AbortController();
    const signal = controller.signal;
    const o = outcome();
    for (let i = 0; i < 10_000; i++) table.take(table.add(on(2, 1), "a", o.resolve, o.reject, 0, signal));
    for (let i = 0; i < 100; i++) table.add(on(2, 1), "b", o.resolve, o.reject, 10, signal);
    vi.advanceTimersByTime(10);
    for (let i = 0; i < 100; i++) table.fail(table.add(on(2, 1), "c", o.resolve, o.reject, 0, signal), new Error("x"));
    table.add(on(2, 1), "d", o.resolve, o.reject, 0, signal);
    table.add(on(3, 1), "e", o.resolve, o.reject, 0, signal);
    table.failTo(2, () => new Error("lost"));
    table.failAll(() => new Error("exit"));
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
    expect(o.rejected).toHaveLength(202);
    expect(table.size).toBe(0);
  });

  it("failTo(slot) ends the calls waiting on that slot only, each with its own error", () => {
    const table = new CallTable();
    const o2 = outcome();
    const o3 = outcome();
    table.add(on(2, 1), "a", o2.resolve, o2.reject, 100);
    table.add(on(3, 1), "b", o3.resolve, o3.reject, 100);
    table.add(on(2, 7), "c", o2.resolve, o2.reject, 100);
    table.failTo(2, (call) => new WorkerLostError(`lost ${call.cmd}`));
    expect(o2.rejected.map((e) => e.message)).toEqual(["lost a", "lost c"]);
    expect(o2.rejected.every((e) => e instanceof WorkerLostError)).toBe(true);
    expect(o3.rejected).toEqual([]);
    expect(table.list()).toEqual([{ session: 2, dest: ":03000001", cmd: "b" }]);
    // The lost calls' timers are gone; the other one's still runs.
    expect(vi.getTimerCount()).toBe(1);
    table.failTo(2, () => new Error("twice"));
    expect(o2.rejected).toHaveLength(2);
  });

  it("failAll ends every call once, timers and listeners with them", () => {
    const table = new CallTable();
    const controller = new AbortController();
    const o = outcome();
    for (let i = 1; i <= 5; i++) table.add(on(i, 1), `c${i}`, o.resolve, o.reject, 100, controller.signal);
    table.failAll((call) => new Error(`exit during ${call.cmd}`));
    expect(o.rejected.map((e) => e.message)).toEqual(["exit during c1", "exit during c2", "exit during c3", "exit during c4", "exit during c5"]);
    expect([table.size, vi.getTimerCount(), getEventListeners(controller.signal, "abort").length]).toEqual([0, 0, 0]);
    table.failAll(() => new Error("again"));
    controller.abort();
    vi.advanceTimersByTime(1000);
    expect(o.rejected).toHaveLength(5);
  });

  it("a reject handler that makes a new call during failAll does not see it failed too", () => {
    const table = new CallTable();
    const o = outcome();
    table.add(on(2, 1), "first", o.resolve, (err) => {
      o.reject(err);
      table.add(on(2, 1), "retry", o.resolve, o.reject, 0);
    }, 0);
    table.failAll(() => new Error("exit"));
    expect(o.rejected).toHaveLength(1);
    expect(table.list().map((c) => c.cmd)).toEqual(["retry"]);
  });

  it("sessions are positive (a session of 0 is a send, a negative one a tag) and wrap from 2^31-1 to 1", () => {
    const table = new CallTable();
    const o = outcome();
    const first = table.add(on(2, 1), "a", o.resolve, o.reject, 0);
    expect(table.add(on(2, 1), "b", o.resolve, o.reject, 0)).toBe(first + 1);
    (table as unknown as { nextSession: number }).nextSession = 0x7fffffff;
    const last = table.add(on(2, 1), "c", o.resolve, o.reject, 0);
    expect(last).toBe(0x7fffffff);
    table.take(last);
    table.take(first);
    expect(table.add(on(2, 1), "d", o.resolve, o.reject, 0)).toBe(1);
  });

  // After 2^31-1 calls the counter comes round: a call still waiting keeps its session.
  it("after the session counter wraps, a session still waiting is not handed out again", () => {
    const table = new CallTable();
    const old = outcome();
    const fresh = outcome();
    const waiting = table.add(on(2, 1), "long-poll", old.resolve, old.reject, 0);
    expect(waiting).toBe(1);
    (table as unknown as { nextSession: number }).nextSession = 0x7fffffff;
    table.take(table.add(on(2, 1), "x", fresh.resolve, fresh.reject, 0));
    const next = table.add(on(2, 1), "y", fresh.resolve, fresh.reject, 0);
    expect(next).not.toBe(waiting);
    expect(table.size).toBe(2);
  });
});

describe("timeouts end to end", () => {
  it("a call given up on times out at the caller; the answer that comes later is dropped there", async () => {
    const lb = loopback();
    const holder = await lb.launchModule(2, "msg_proto");
    const caller = lb.host(1).system;
    const answer = caller.ctx.withTimeout(50).call(holder, "hold");
    const settled = vi.fn();
    answer.then(settled, settled);
    // Wait (on real immediates) until the call is held at the callee.
    while (lb.service(holder).inflight.size === 0) await nextImmediate();
    expect(caller.calls.size).toBe(1);
    vi.advanceTimersByTime(50);
    const err = await answer.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallTimeoutError);
    expect((err as Error).message).toMatch(/did not answer "hold" within 50 ms/);
    expect(caller.calls.size).toBe(0);
    // The callee still answers; the answer crosses the ring and finds no call.
    expect(await lb.call(1, holder, "release", "late")).toEqual([true, false]);
    await nextImmediate();
    expect(settled).toHaveBeenCalledTimes(1);
    expect(lb.logs).toEqual([]);
  });
});
