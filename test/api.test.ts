/**
 * The service API beyond plain messages: timers and tasks, lib/queue, names, unique services,
 * placement, the environment, per-call timeouts, stat and the clock.
 */
import { describe, expect, it } from "vitest";
import { CallTimeoutError, type ServiceStat } from "weft";
import type Slow from "./fixtures/msg_slow.js";
import { slotOf as workerOf } from "weft/internal";
import { startRuntime, useRuntime } from "./helpers.js";

/** Tests that need no runtime of their own share this one, each with services of its own. */
const shared = useRuntime({ msgGreeting: "hello", msgLimits: { rooms: 3, names: ["a", "b"] } });

describe("timers, fork, yield, wait and wakeup", () => {
  it("fork runs right after the current handler, before the messages already waiting (as skynet.fork)", async () => {
    const rt = shared();
    const m = await rt.newService("msg_order");
    // Sent in one turn, these travel in one batch: all are waiting when the first is handled.
    rt.send(m, "forkHere", "A");
    rt.send(m, "mark", "next message");
    expect(await rt.call(m, "drain")).toEqual(["A start", "A end", "A fork", "next message"]);
  });

  it("yield lets the messages already waiting run first", async () => {
    const rt = shared();
    const m = await rt.newService("msg_order");
    rt.send(m, "yieldHere", "A");
    rt.send(m, "mark", "waiting message");
    expect(await rt.call(m, "drain")).toEqual(["A before yield", "waiting message", "A after yield"]);
  });

  it("wakeup resumes the waiter right after the current handler, before the next message, and returns false when nobody waits", async () => {
    const rt = shared();
    const m = await rt.newService("msg_order");
    rt.send(m, "waitOn", "t");
    rt.send(m, "mark", "while waiting");
    rt.send(m, "wake", "t");
    rt.send(m, "wake", "t");
    expect(await rt.call(m, "drain")).toEqual([
      "waiting on t",
      "while waiting",
      "wakeup t: true",
      "wake handler end",
      "resumed t",
      "wakeup t: false",
      "wake handler end",
    ]);
  });

  it("runs forks before timers, timeout(0) before timeout(10), and never a cancelled timeout", async () => {
    const rt = shared();
    const m = await rt.newService("msg_order");
    // The 30 ms timer that reports comes after the cancelled 5 ms one would have fired.
    expect(await rt.call(m, "timers")).toEqual(["handler end", "fork", "timeout 0", "timeout 10"]);
  });
});

describe("lib/queue", () => {
  it.each([
    ["on the same worker", 1],
    ["on another worker", 2],
  ])("keeps handlers that await a service %s from interleaving, which they do without it", async (_where, helperWorker) => {
    const rt = shared();
    const helper = await rt.newServiceOn(helperWorker, "msg_echo");
    const s = await rt.newServiceOn(1, "msg_cs", helper);
    expect(await Promise.all([rt.call(s, "unguarded", "a"), rt.call(s, "unguarded", "b")])).toEqual(["a", "b"]);
    expect(await rt.call(s, "events")).toEqual(["a start", "b start", "a end", "b end"]);
    expect(await Promise.all([rt.call(s, "guarded", "a"), rt.call(s, "guarded", "b"), rt.call(s, "guarded", "c")])).toEqual(["a", "b", "c"]);
    expect(await rt.call(s, "events")).toEqual(["a start", "a end", "b start", "b end", "c start", "c end"]);
  });

  it("lets the task inside enter again without deadlock", async () => {
    const rt = shared();
    const helper = await rt.newServiceOn(2, "msg_echo");
    const s = await rt.newServiceOn(1, "msg_cs", helper);
    expect(await rt.withTimeout(2000).call(s, "nested")).toBe("done");
    expect(await rt.call(s, "events")).toEqual(["outer", "inner", "outer done"]);
  });

  it("makes a task started by another service's message wait its turn, even when all run on one worker", async () => {
    const rt = shared();
    // While the task "main" is inside the queue, its echo service sends `watcher` a one-way note
    // on which `watcher` asks for guarded work of its own: a separate task, not a nested call.
    const watcher = await rt.newServiceOn(1, "msg_echo");
    const nudger = await rt.newServiceOn(1, "msg_nudger");
    const s = await rt.newServiceOn(1, "msg_cs", nudger);
    await rt.call(nudger, "arm", watcher, s, "guarded", "watcher");
    expect(await rt.call(s, "guarded", "main")).toBe("main");
    // queued behind "watcher", so that one has finished when this answers
    expect(await rt.call(s, "guarded", "last")).toBe("last");
    expect(await rt.call(s, "events")).toEqual(["main start", "main end", "watcher start", "watcher end", "last start", "last end"]);
  });
});

describe("names", () => {
  it.each([".msg_local", "msg_global"])("registers %s and finds it from the main thread and from services on both workers", async (name) => {
    const rt = shared();
    const owner = await rt.newServiceOn(1, "msg_names");
    expect(await rt.queryName(name)).toBeUndefined();
    expect(await rt.call(owner, "register", name)).toBe(owner);
    expect(await rt.queryName(name)).toBe(owner);
    for (const worker of [1, 2]) {
      const other = await rt.newServiceOn(worker, "msg_names");
      expect(await rt.call(other, "queryName", name)).toBe(owner);
      expect(await rt.call(other, "callByName", name, "whoami")).toEqual({ handle: owner, worker: 1 });
    }
    expect(await rt.call(name, "whoami")).toEqual({ handle: owner, worker: 1 });
  });

  it("sends and calls by name, from the main thread and from a service", async () => {
    const rt = shared();
    const keeper = await rt.newServiceOn(2, "msg_names");
    await rt.call(keeper, "register", ".msg_keeper");
    const sender = await rt.newServiceOn(1, "msg_names");
    rt.send(".msg_keeper", "keep", "from main");
    expect(await rt.call(".msg_keeper", "kept")).toEqual(["from main"]);
    await rt.call(sender, "sendByName", ".msg_keeper", "keep", "from a service");
    // the call follows the send on the same channel
    expect(await rt.call(sender, "callByName", ".msg_keeper", "kept")).toEqual(["from main", "from a service"]);
  });

  it("refuses a name that another service holds with WEFT_NAME_TAKEN", async () => {
    const rt = shared();
    const owner = await rt.newServiceOn(1, "msg_names");
    await rt.call(owner, "register", "msg_taken");
    await rt.call(owner, "register", ".msg_taken");
    for (const worker of [1, 2]) {
      const rival = await rt.newServiceOn(worker, "msg_names");
      expect(await rt.call(rival, "tryRegister", "msg_taken")).toBe("WEFT_NAME_TAKEN");
      expect(await rt.call(rival, "tryRegister", ".msg_taken")).toBe("WEFT_NAME_TAKEN");
    }
    expect(await rt.call(owner, "tryRegister", "msg_taken")).toBe("registered"); // its own name again: fine
    expect(await rt.queryName("msg_taken")).toBe(owner);
  });

  it("releases a service's names when it exits", async () => {
    const rt = shared();
    const owner = await rt.newServiceOn(1, "msg_names");
    await rt.call(owner, "register", "msg_gone");
    await rt.call(owner, "register", ".msg_gone");
    expect(await rt.kill(owner)).toBe(true);
    expect(await rt.queryName("msg_gone")).toBeUndefined();
    const other = await rt.newServiceOn(2, "msg_names");
    expect(await rt.call(other, "queryName", ".msg_gone")).toBeUndefined();
    expect(await rt.call(other, "tryRegister", "msg_gone")).toBe("registered");
    expect(await rt.queryName("msg_gone")).toBe(other);
  });

  it("a service that kills a named service on another worker no longer finds the name", async () => {
    const rt = shared();
    const killer = await rt.newServiceOn(2, "msg_names");
    for (let i = 0; i < 10; i++) {
      const owner = await rt.newServiceOn(1, "msg_names");
      await rt.call(owner, "register", `msg_doomed_${i}`);
      expect(await rt.call(killer, "killThenQuery", owner, `msg_doomed_${i}`)).toEqual({ killed: true, found: null });
    }
  });
});

describe("uniqueService and queryService", () => {
  it("gives 10 concurrent callers on both workers the same single instance", async () => {
    const rt = await startRuntime();
    const drivers = await Promise.all(Array.from({ length: 9 }, (_, i) => rt.newServiceOn(1 + (i % 2), "msg_driver")));
    const answers = await Promise.all([...drivers.map((d) => rt.call(d, "unique", "msg_unique")), rt.uniqueService("msg_unique")]);
    expect(new Set(answers).size).toBe(1);
    const instances = (await rt.list()).filter((r) => r.name === "msg_unique");
    expect(instances.map((r) => r.handle)).toEqual([answers[0]]);
    expect(await rt.call(answers[0], "whoami")).toMatchObject({ handle: answers[0] });
    expect(await rt.uniqueService("msg_unique")).toBe(answers[0]); // later callers too
  });

  it("queryService waits until the unique service has started", async () => {
    const rt = await startRuntime();
    const driver = await rt.newServiceOn(2, "msg_driver");
    let found: number | undefined;
    const fromMain = rt.queryService("msg_unique").then((addr) => (found = addr));
    const fromService = rt.call(driver, "query", "msg_unique");
    // proving a negative: nothing has started it yet, so nothing may answer
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(found).toBeUndefined();
    const started = await rt.uniqueService("msg_unique");
    expect(await fromMain).toBe(started);
    expect(await fromService).toBe(started);
  });
});

describe("placement", () => {
  it("newServiceOn('same') from a service lands on the caller's worker; newServiceOn(2) on worker 2", async () => {
    const rt = shared();
    for (const worker of [1, 2]) {
      const driver = await rt.newServiceOn(worker, "msg_driver");
      expect(await rt.call(driver, "spawn", "same", "msg_driver")).toMatchObject({ worker });
      expect(await rt.call(driver, "spawn", 2, "msg_driver")).toMatchObject({ worker: 2 });
      expect(await rt.call(driver, "spawn", 1, "msg_driver")).toMatchObject({ worker: 1 });
    }
    expect(workerOf(await rt.newServiceOn(2, "msg_driver"))).toBe(2);
  });

  it("newService spreads services over the workers, least loaded first", async () => {
    const rt = await startRuntime();
    const perWorker = async () => {
      const counts = [0, 0];
      for (const record of await rt.list()) counts[record.worker - 1]++;
      return counts;
    };
    const [one, two] = await perWorker(); // the logger and the launcher
    const placed: number[] = [];
    for (let i = 0; i < 6; i++) placed.push(workerOf(await rt.newService("msg_driver")));
    const driver = await rt.newServiceOn(1, "msg_driver");
    for (let i = 0; i < 2; i++) placed.push((await rt.call(driver, "spawn", null, "msg_driver")).worker);
    const [oneAfter, twoAfter] = await perWorker();
    expect(oneAfter + twoAfter).toBe(one + two + 9);
    expect(Math.abs(oneAfter - twoAfter)).toBeLessThanOrEqual(1);
    // the emptier worker got the first one
    expect(placed[0]).toBe(one <= two ? 1 : 2);
  });
});

describe("environment", () => {
  it("getenv sees the config's own keys on every worker and on the main thread", async () => {
    const rt = shared(); // started with these keys
    for (const worker of [1, 2]) {
      const driver = await rt.newServiceOn(worker, "msg_driver");
      expect(await rt.call(driver, "getenv", "msgGreeting")).toBe("hello");
      expect(await rt.call(driver, "getenv", "msgLimits")).toEqual({ rooms: 3, names: ["a", "b"] });
      expect(await rt.call(driver, "getenv", "thread")).toBe(2);
      expect(await rt.call(driver, "getenv", "msgMissing")).toBeNull();
    }
    expect(rt.getenv("msgGreeting")).toBe("hello");
  });

  it("setenv on one worker is seen on the other and on the main thread", async () => {
    const rt = shared();
    const setter = await rt.newServiceOn(1, "msg_driver");
    const reader = await rt.newServiceOn(2, "msg_driver");
    await rt.call(setter, "setenv", "msgShared", { set: "on worker 1" });
    expect(await rt.call(reader, "getenv", "msgShared")).toEqual({ set: "on worker 1" });
    expect(rt.getenv("msgShared")).toEqual({ set: "on worker 1" });
    await rt.setenv("msgShared", "from main");
    expect(await rt.call(setter, "getenv", "msgShared")).toBe("from main");
    expect(await rt.call(reader, "getenv", "msgShared")).toBe("from main");
  });
});

describe("per-call timeout", () => {
  it("rt.withTimeout rejects a slower handler with WEFT_CALL_TIMEOUT, drops the late answer, and the service keeps working", async () => {
    const rt = shared();
    const slow = await rt.newServiceOn(2, "msg_slow");
    const late = rt.withTimeout(20).call(slow, "slow", 100, "late");
    await expect(late).rejects.toBeInstanceOf(CallTimeoutError);
    await expect(late).rejects.toMatchObject({ code: "WEFT_CALL_TIMEOUT", message: expect.stringContaining('"slow"') });
    // this call is pending when the late answer arrives: it must get its own answer
    expect(await rt.call(slow, "slow", 150, "fresh")).toBe("fresh");
    expect(await rt.call(slow, "finished")).toBe(2);
    expect(await rt.withTimeout(1000).call(slow, "slow", 0, "in time")).toBe("in time");
  });

  it("svc.withTimeout(ms).call times out inside the runtime too, and calls without a timeout wait", async () => {
    const rt = shared();
    const slow = await rt.newServiceOn(2, "msg_slow");
    const driver = await rt.newServiceOn(1, "msg_driver");
    expect(await rt.call(driver, "timedCall", 20, slow, "slow", 100, "late")).toEqual({ code: "WEFT_CALL_TIMEOUT" });
    expect(await rt.call(driver, "timedCall", 1000, slow, "slow", 0, "quick")).toEqual({ answer: "quick" });
    expect(await rt.call(slow, "slow", 60, "no timeout")).toBe("no timeout");
  });

  it("a proxy with { timeout } times out; the same proxy without one waits", async () => {
    const rt = shared();
    const addr = await rt.newServiceOn<typeof Slow>(1, "msg_slow");
    await expect(rt.proxy<typeof Slow>(addr, { timeout: 20 }).slow(100, "late")).rejects.toMatchObject({ code: "WEFT_CALL_TIMEOUT" });
    await expect(rt.withTimeout(20).proxy<typeof Slow>(addr).slow(100, "late")).rejects.toMatchObject({ code: "WEFT_CALL_TIMEOUT" });
    expect(await rt.proxy<typeof Slow>(addr).slow(60, "patient")).toBe("patient");
  });
});

describe("stat and the clock", () => {
  it("stat counts the messages handled so far and the mailbox waiting behind the current one", async () => {
    const rt = shared();
    const m = await rt.newService("msg_order");
    for (let i = 0; i < 5; i++) rt.send(m, "mark", `m${i}`);
    const afterFive = (await rt.call(m, "stat")) as ServiceStat;
    expect(afterFive.messages).toBeGreaterThanOrEqual(5);
    const pending = rt.call(m, "stat") as Promise<ServiceStat>;
    for (let i = 0; i < 10; i++) rt.send(m, "mark", `n${i}`);
    const withTen = await pending;
    expect(withTen.mailbox).toBe(10);
    expect(withTen.messages).toBeGreaterThan(afterFive.messages);
    expect(withTen).toMatchObject({ name: "msg_order", calls: 0, timers: 0, waits: 0 });
    expect(withTen.cpu).toBeGreaterThanOrEqual(0);
  });

  it("now() counts ms since the start, increases, and startTime() is when the runtime started", async () => {
    const before = Date.now();
    const rt = await startRuntime();
    const after = Date.now();
    const m = await rt.newServiceOn(2, "msg_order");
    const clock = (await rt.call(m, "clock")) as { now: number; startTime: number; wall: number };
    expect(clock.startTime).toBeGreaterThanOrEqual(before);
    expect(clock.startTime).toBeLessThanOrEqual(after);
    expect(Math.abs(clock.now - (clock.wall - clock.startTime))).toBeLessThan(50);
    const { before: t0, after: t1 } = (await rt.call(m, "nowAcross", 20)) as { before: number; after: number };
    expect(t1 - t0).toBeGreaterThanOrEqual(19);
    expect(t0).toBeGreaterThanOrEqual(clock.now);
  });
});
