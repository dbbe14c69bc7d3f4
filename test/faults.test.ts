/**
 * Faults inside services (DESIGN.md, "Errors" and "Monitor"): what a caller sees when a handler
 * throws, when the target does not know the command or the protocol, when the target exits or is
 * killed with calls pending, when a start function fails; and what the logger is told about
 * errors nobody waits for, overloaded mailboxes and handlers stuck in an endless loop.
 */
import { describe, expect, it } from "vitest";
import {
  formatHandle,
  NoSuchServiceError,
  RemoteError,
  ServiceExitedError,
  ServiceStartError,
  UnknownCommandError,
  UnknownProtocolError,
  type Handle,
  type Runtime,
} from "weft";
import type { Outcome } from "./fixtures/fault_thrower.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";


/** Escapes a handle's address for use in a RegExp (it has no special characters, but say so). */
const at = (handle: Handle): string => formatHandle(handle).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("a handler that throws while serving a call", () => {
  it("rejects the caller with a RemoteError naming the target and the command, the original error in cause", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    const err = await rejectionOf(rt.call(thrower, "boom", "the disk is on fire"));

    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR", name: "RemoteError" });
    expect(err.message).toContain(formatHandle(thrower));
    expect(err.message).toContain('"boom"');
    expect(err.message).toContain("the disk is on fire");
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.cause.message).toBe("the disk is on fire");
    // The stack was made on the worker, in the fixture's own function.
    expect(err.cause.stack).toContain("explodeInHandler");
    expect(err.cause.stack).toContain("fault_thrower.js");
  });

  it("does the same for an async handler that rejects", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(1, "fault_thrower");

    const err = await rejectionOf(rt.call(thrower, "asyncBoom", "rejected later"));

    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR" });
    expect(err.message).toContain(formatHandle(thrower));
    expect(err.message).toContain('"asyncBoom"');
    expect(err.cause.message).toBe("rejected later");
    expect(err.cause.stack).toContain("explodeInHandler");
  });

  it("keeps the service serving, with its state, after each failure", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    for (let i = 0; i < 3; i++) {
      await expect(rt.call(thrower, "boom", `sync ${i}`)).rejects.toBeInstanceOf(RemoteError);
      await expect(rt.call(thrower, "asyncBoom", `async ${i}`)).rejects.toBeInstanceOf(RemoteError);
    }
    expect(await rt.call(thrower, "ok", { still: "here" })).toEqual({ still: "here" });
    // The same instance handled all of them: nothing restarted it.
    expect(await rt.call(thrower, "handled")).toBe(7);
  });

  it("gives the caller a stack that runs through the caller's own function", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    async function theCallersOwnFunction(): Promise<void> {
      await rt.call(thrower, "boom", "where did I call from?");
    }
    const err = await rejectionOf(theCallersOwnFunction());

    expect(err).toBeInstanceOf(RemoteError);
    expect(err.stack).toContain("theCallersOwnFunction");
  });

  it("reaches a caller two services away as a RemoteError whose cause chain ends at the original error", async () => {
    const rt = await startRuntime();
    const relay = await rt.newServiceOn(1, "fault_thrower");
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    const err = await rejectionOf(rt.call(relay, "relay", thrower, "boom", "deep down"));

    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toContain(formatHandle(relay));
    expect(err.message).toContain('"relay"');
    expect(err.cause).toMatchObject({ code: "WEFT_REMOTE_ERROR" });
    expect(err.cause.message).toContain(formatHandle(thrower));
    expect(err.cause.cause.message).toBe("deep down");
  });
});

describe("a message the target cannot handle", () => {
  it("rejects a call to an unknown command with UnknownCommandError naming the service and the command", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    const err = await rejectionOf(rt.call(thrower, "noSuchCommand", 1));

    expect(err).toBeInstanceOf(UnknownCommandError);
    expect(err).toMatchObject({ code: "WEFT_UNKNOWN_COMMAND" });
    expect(err.message).toContain(formatHandle(thrower));
    expect(err.message).toContain("noSuchCommand");
    expect(await rt.call(thrower, "ok", 1)).toBe(1);
  });

  it("keeps UnknownCommandError's class when the caller is a service on another worker", async () => {
    const rt = await startRuntime();
    const prober = await rt.newServiceOn(1, "fault_thrower");
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    const outcome = (await rt.call(prober, "probe", thrower, "noSuchCommand")) as Outcome;

    expect(outcome).toMatchObject({ ok: false, name: "UnknownCommandError", code: "WEFT_UNKNOWN_COMMAND", weft: true });
    expect(outcome.message).toContain(formatHandle(thrower));
  });

  it("rejects a rawCall on a protocol the service has no dispatch for with UnknownProtocolError", async () => {
    const rt = await startRuntime();
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    for (const proto of ["client", 42] as const) {
      const err = await rejectionOf(rt.rawCall(thrower, proto, Buffer.from("hello")));
      expect(err).toBeInstanceOf(UnknownProtocolError);
      expect(err).toMatchObject({ code: "WEFT_UNKNOWN_PROTOCOL" });
      expect(err.message).toContain(formatHandle(thrower));
    }
    // A protocol name nobody registered fails on the caller's side, before anything is sent.
    await expect(rt.rawCall(thrower, "no-such-protocol", 1)).rejects.toMatchObject({ code: "WEFT_UNKNOWN_PROTOCOL" });
    expect(await rt.call(thrower, "ok", "fine")).toBe("fine");
  });

  it("logs a send to an unknown command at the target, with the sender's address", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    rt.send(thrower, "noSuchCommand");

    const line = await log.waitFor(/noSuchCommand/);
    expect(line.startsWith(`[${formatHandle(thrower)}]`)).toBe(true);
    expect(line).toContain(":00000000");
    expect(await rt.call(thrower, "ok", 1)).toBe(1);
  });
});

describe("an error nobody waits for", () => {
  it("in a send handler is logged with the service's address, and the service keeps running", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    rt.send(thrower, "boom", "nobody is listening");
    rt.send(thrower, "asyncBoom", "nobody awaits this");

    const sync = await log.waitFor(/nobody is listening/);
    expect(sync).toMatch(new RegExp(`^\\[${at(thrower)}\\] .*"boom".*nobody is listening`));
    const async = await log.waitFor(/nobody awaits this/);
    expect(async).toMatch(new RegExp(`^\\[${at(thrower)}\\] .*"asyncBoom".*nobody awaits this`));
    expect(await rt.call(thrower, "ok", "alive")).toBe("alive");
    expect(await rt.call(thrower, "handled")).toBe(3);
  });

  it("in a svc.timeout callback is logged with the service's address, and the service keeps running", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const thrower = await rt.newServiceOn(1, "fault_thrower");

    await rt.call(thrower, "timeoutBoom", "the timer went off badly");

    const line = await log.waitFor(/the timer went off badly/);
    expect(line.startsWith(`[${formatHandle(thrower)}] error`)).toBe(true);
    expect(await rt.call(thrower, "ok", "alive")).toBe("alive");
    // Its timers still work.
    await rt.call(thrower, "timeoutBoom", "and again");
    await log.waitFor(/and again/);
  });

  it("in a svc.fork task, sync or async, is logged with the service's address, and the service keeps running", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const thrower = await rt.newServiceOn(2, "fault_thrower");

    await rt.call(thrower, "forkBoom", "the fork fell over");
    await rt.call(thrower, "forkAsyncBoom", "the async fork fell over");

    expect(await log.waitFor(/the fork fell over/)).toMatch(new RegExp(`^\\[${at(thrower)}\\] error`));
    expect(await log.waitFor(/the async fork fell over/)).toMatch(new RegExp(`^\\[${at(thrower)}\\] error`));
    expect(await rt.call(thrower, "ok", "alive")).toBe("alive");
  });
});

describe("a service that exits with calls queued", () => {
  it("fails every queued caller with ServiceExitedError, fails its own calls, and runs its exit hook", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const exiter = await rt.newServiceOn(1, "fault_exiter");
    const never = await rt.newServiceOn(2, "fault_exiter");

    // The exiter waits on a call that is never answered...
    const ownCall = rejectionOf(rt.call(exiter, "waitOn", never, "hang"));
    await rt.call(never, "hanging", 1);
    // ...then is busy while calls pile up behind it, and exits.
    // (Whether quit's own caller gets an answer is not specified; only that it is not left hanging.)
    const quitting = rt.call(exiter, "quit", 50).catch(() => undefined);
    const queued = Array.from({ length: 5 }, (_, i) => rejectionOf(rt.call(exiter, "ok", i)));

    for (const call of queued) {
      const err = await call;
      expect(err).toBeInstanceOf(ServiceExitedError);
      expect(err).toMatchObject({ code: "WEFT_SERVICE_EXITED" });
      expect(err.message).toContain(formatHandle(exiter));
      expect(err.message).toContain('"ok"');
    }
    await quitting;

    // Its own pending call failed inside it, and the caller of waitOn was told it exited.
    const own = await ownCall;
    expect(own).toBeInstanceOf(ServiceExitedError);
    expect(own.message).toContain(formatHandle(exiter));
    expect(await log.waitFor(/its own call failed/)).toMatch(new RegExp(`^\\[${at(exiter)}\\] its own call failed: ServiceExitedError WEFT_SERVICE_EXITED: .*${at(never)}.*"hang"`));

    // The hook ran first: before the service's own calls were failed.
    const hook = await log.waitFor(new RegExp(`exit hook ran for ${at(exiter)}`));
    const lines = log.lines();
    expect(lines.indexOf(hook)).toBeLessThan(lines.findIndex((line) => line.includes("its own call failed")));
    // Gone for good: a later call is refused at once, and the service it was calling is fine.
    await expect(rt.call(exiter, "ok", 1)).rejects.toMatchObject({ code: "WEFT_NO_SUCH_SERVICE" });
    expect(await rt.call(never, "ok", 2)).toBe(2);
    expect((await rt.list()).map((r) => r.handle)).not.toContain(exiter);
  });
});

describe("an exit hook", () => {
  it("may await svc.sleep: the hook finishes and kill resolves", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const sleeper = await rt.newServiceOn(1, "fault_exiter", 20);
    const caller = rejectionOf(rt.call(sleeper, "hang"));
    await rt.call(sleeper, "hanging", 1);

    const killed = rt.kill(sleeper);

    await log.waitFor(new RegExp(`exit hook ran for ${at(sleeper)}`), 2000);
    expect(await killed).toBe(true);
    expect(await caller).toBeInstanceOf(ServiceExitedError);
  });
});

describe("a service that is killed with calls pending", () => {
  /** Hangs two calls on `victim` (one from the main thread, one from a service), kills it with `kill`, checks the aftermath. */
  async function killScenario(rt: Runtime, kill: (victim: Handle) => Promise<boolean>): Promise<void> {
    const victim = await rt.newServiceOn(1, "fault_exiter");
    const sameWorker = await rt.newServiceOn(1, "fault_thrower");
    const otherWorker = await rt.newServiceOn(2, "fault_thrower");

    const fromMain = rejectionOf(rt.call(victim, "hang"));
    const fromService = rt.call(otherWorker, "probe", victim, "hang") as Promise<Outcome>;
    await rt.call(victim, "hanging", 2);

    expect(await kill(victim)).toBe(true);

    const err = await fromMain;
    expect(err).toBeInstanceOf(ServiceExitedError);
    expect(err).toMatchObject({ code: "WEFT_SERVICE_EXITED" });
    expect(err.message).toContain(formatHandle(victim));
    expect(err.message).toContain('"hang"');
    expect(await fromService).toMatchObject({ ok: false, name: "ServiceExitedError", code: "WEFT_SERVICE_EXITED", weft: true });

    // Afterwards: the dead handle, and handles that never existed, fail at once, from anywhere.
    const neverOn1 = ((1 << 24) | 0xfffff0) >>> 0;
    const neverOn2 = ((2 << 24) | 0xfffff0) >>> 0;
    for (const target of [victim, neverOn1, neverOn2]) {
      const fromMainAfter = await rejectionOf(rt.call(target, "ok", 1));
      expect(fromMainAfter).toBeInstanceOf(NoSuchServiceError);
      expect(fromMainAfter).toMatchObject({ code: "WEFT_NO_SUCH_SERVICE" });
      expect(fromMainAfter.message).toContain(formatHandle(target));
      for (const prober of [sameWorker, otherWorker]) {
        const outcome = (await rt.call(prober, "probe", target, "ok", 1)) as Outcome;
        expect(outcome).toMatchObject({ ok: false, name: "NoSuchServiceError", code: "WEFT_NO_SUCH_SERVICE", weft: true });
        expect(outcome.message).toContain(formatHandle(target));
      }
    }
    expect(await kill(victim)).toBe(false);
    expect((await rt.list()).map((r) => r.handle)).not.toContain(victim);
  }

  it("by rt.kill: callers reject, later calls get NoSuchServiceError", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    await killScenario(rt, (victim) => rt.kill(victim));
    await log.waitFor(/exit hook ran/);
  });

  it("by svc.kill from a service on another worker: callers reject, later calls get NoSuchServiceError", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const killer = await rt.newServiceOn(2, "fault_thrower");
    await killScenario(rt, (victim) => rt.call(killer, "kill", victim) as Promise<boolean>);
    await log.waitFor(/exit hook ran/);
  });
});

describe("a start function that throws", () => {
  it("rejects newService with ServiceStartError naming the service, releases its name, and is not listed", async () => {
    const rt = await startRuntime();

    for (const name of [".badstart", "badstart"]) {
      const err = await rejectionOf(rt.newService("fault_badstart", name));
      expect(err).toBeInstanceOf(ServiceStartError);
      expect(err).toMatchObject({ code: "WEFT_START_FAILED" });
      expect(err.message).toContain('"fault_badstart"');
      expect(err.message).toMatch(/:0[0-9a-f]{7}/);
      expect(err.message).toContain("refusing to start, on purpose");
      expect(err.cause).toMatchObject({ message: "refusing to start, on purpose" });

      expect(await rt.queryName(name)).toBeUndefined();
    }
    expect((await rt.list()).filter((r) => r.name === "fault_badstart")).toEqual([]);

    // The name is really free: a service that starts can take it.
    const good = await rt.newService("fault_badstart", ".badstart", false);
    expect(await rt.queryName(".badstart")).toBe(good);
    expect(await rt.call(".badstart", "whoami")).toBe(formatHandle(good));
  });

  it("is a ServiceStartError from a service's svc.newService too", async () => {
    const rt = await startRuntime();
    const relay = await rt.newServiceOn(2, "fault_thrower");
    const launcher = await rt.queryName(".launcher");

    const err = await rejectionOf(rt.call(relay, "relay", launcher, "launch", "fault_badstart", []));

    // What crosses two services on its way here keeps its class (a "transparent" code).
    expect(err).toBeInstanceOf(ServiceStartError);
    expect(err.message).toContain('"fault_badstart"');
  });

  it("rejects newService of a module that does not exist with ServiceStartError", async () => {
    const rt = await startRuntime();

    const err = await rejectionOf(rt.newService("fault_no_such_module"));

    expect(err).toBeInstanceOf(ServiceStartError);
    expect(err).toMatchObject({ code: "WEFT_START_FAILED" });
    expect(err.message).toContain("fault_no_such_module");
    expect((await rt.list()).filter((r) => r.name === "fault_no_such_module")).toEqual([]);
    // The launcher is fine.
    const echo = await rt.newService("echo");
    expect(await rt.call(echo, "echo", 1)).toBe(1);
  });
});

describe("the monitor", () => {
  it('logs "May overload" when a mailbox is still past 1024 as its turn ends, then past each doubling; a burst absorbed within the turn is not reported', async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const sink = await rt.newServiceOn(1, "fault_overload");
    const flooder = await rt.newServiceOn(1, "fault_overload");

    // Warm up below the mark, then three bursts past it, each of which one turn absorbs many
    // times over (its 10 ms slice holds far more than 1,100 messages once the code is warm).
    for (let i = 0; i < 20; i++) await rt.call(flooder, "flood", sink, 1000);
    for (let i = 0; i < 3; i++) await rt.call(flooder, "flood", sink, 1100);
    const burst = 20 * 1000 + 3 * 1100;
    expect(await rt.call(sink, "ticks")).toBe(burst);
    await rt.call(sink, "mark", "burst absorbed");

    // 30,000 a turn is more than a turn handles (16,384 messages at most): the mailbox grows.
    const perTurn = 30_000;
    const turns = 6;
    await rt.call(flooder, "floodTurns", sink, perTurn, turns);
    // Everything was handled, in spite of the warnings.
    expect(await rt.call(sink, "ticks")).toBe(burst + perTurn * turns);
    await rt.call(sink, "mark", "flood handled");

    await log.waitFor(/flood handled/);
    const lines = log.lines().filter((line) => line.startsWith(`[${formatHandle(sink)}]`));
    const burstEnd = lines.findIndex((line) => line.endsWith("burst absorbed"));
    // Reported at once (as before), each burst would log a line. A thread the machine stalls
    // past its slice in the middle of a burst may report one; not all three.
    expect(lines.slice(0, burstEnd).length).toBeLessThanOrEqual(1);
    const lengths = lines.slice(burstEnd + 1, -1).map((line) => Number(/^\[[^\]]+\] May overload, mailbox length (\d+)$/.exec(line)?.[1]));
    expect(lengths.length).toBeGreaterThanOrEqual(2);
    // Each warning is past the mark the one before it left: the doubling beyond its length.
    let mark = 1024;
    for (const length of lengths) {
      expect(length).toBeGreaterThanOrEqual(mark);
      while (mark <= length) mark *= 2;
    }
  });

  it("reports a handler stuck in an endless loop with source, destination and command, and the runtime goes on", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 300, stuckWorker: 0 });
    const caller = await rt.newServiceOn(1, "fault_spin");
    const spinner = await rt.newServiceOn(2, "fault_spin");

    const elapsed = (await rt.call(caller, "spinVia", spinner, 1500)) as number;
    expect(elapsed).toBeGreaterThanOrEqual(1500);

    const line = await log.waitFor(/endless loop/);
    expect(line.startsWith(`[${formatHandle(spinner)}]`)).toBe(true);
    expect(line).toContain(`from ${formatHandle(caller)}`);
    expect(line).toContain(`to ${formatHandle(spinner)}`);
    expect(line).toContain('"spin"');
    expect(line).toContain("worker 2");

    // Reported once for that one message, and the runtime still works.
    expect(await rt.call(spinner, "whoami")).toEqual({ address: formatHandle(spinner), worker: 2 });
    const echo = await rt.newServiceOn(2, "echo");
    expect(await rt.call(echo, "echo", "after")).toBe("after");
    expect(log.lines().filter((l) => l.includes("endless loop"))).toHaveLength(1);
  });

  it("says how long the handler has run in a unit that does not round a short limit down to nothing", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 300, stuckWorker: 0 });
    const spinner = await rt.newServiceOn(2, "fault_spin");

    await rt.call(spinner, "spin", 700);

    const line = await log.waitFor(/endless loop/);
    const [, amount, unit] = /has run for ([\d.]+) ?(ms|s)\b/.exec(line) ?? [];
    expect(unit, line).toBeDefined();
    // At least the configured 300 ms (the report comes at the first check past the limit).
    expect(Number(amount) * (unit === "s" ? 1000 : 1), line).toBeGreaterThanOrEqual(300);
  });
});
