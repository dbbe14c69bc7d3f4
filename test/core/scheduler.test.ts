/**
 * The scheduler's budget, on bare mailboxes: a chain of messages that never ends still gives
 * the event loop a turn after `tickBudget` messages or `sliceMs`; `serviceBatch` takes turns
 * between busy mailboxes; follow-ups (fork, wakeup) and what they resume run before the next
 * message. Then the same through real services on a loopback host.
 */
import { performance } from "node:perf_hooks";
import { setImmediate as nextImmediate } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { envelope, Mailbox, PROTO, Scheduler, type Envelope, type MailboxOwner, type SchedulerBudget } from "weft/internal";
import { loopback } from "./harness.js";

const msg = (cmd: string): Envelope => envelope(0, 0, PROTO.lua, cmd, undefined);

/** A mailbox owner that logs what it handles; `onDispatch` may queue more. */
class Owner implements MailboxOwner {
  running = true;
  readonly overloads: number[] = [];
  constructor(
    readonly log: string[],
    public onDispatch: (envelope: Envelope) => void = () => undefined,
  ) {}
  dispatch(envelope: Envelope): void {
    this.log.push(envelope.cmd);
    this.onDispatch(envelope);
  }
  runLocal(callback: () => unknown): void {
    callback();
  }
  overloaded(length: number): void {
    this.overloads.push(length);
  }
  ran(): void {}
}

function setup(budget: SchedulerBudget) {
  let flushes = 0;
  const scheduler = new Scheduler(() => void flushes++, budget);
  const log: string[] = [];
  const mailbox = () => new Mailbox(new Owner(log));
  return { scheduler, log, mailbox, flushes: () => flushes };
}

/**
 * Makes `mailbox` a chain that never ends by itself: each message queues the next, until
 * `cap` messages have run (so a scheduler that ignored its budget fails the test, not hangs it).
 */
function endless(scheduler: Scheduler, mailbox: Mailbox, name: string, cap: number, work: () => void = () => undefined): { count(): number } {
  let count = 0;
  (mailbox.owner as Owner).onDispatch = () => {
    count++;
    work();
    if (count < cap) {
      mailbox.push(msg(name));
      scheduler.ready(mailbox);
    }
  };
  mailbox.push(msg(name));
  scheduler.ready(mailbox);
  return { count: () => count };
}

/** Resolves once the scheduler has nothing left to run (two turns of the event loop in a row with no progress). */
async function idle(count: () => number): Promise<void> {
  for (let last = -1; last !== count(); ) {
    last = count();
    await nextImmediate();
    await nextImmediate();
  }
}

describe("the scheduler's budget", () => {
  it("gives the event loop a turn after tickBudget messages of a chain that never ends", async () => {
    const { scheduler, mailbox } = setup({ serviceBatch: 10, tickBudget: 200, sliceMs: 1e9 });
    const box = mailbox();
    const chain = endless(scheduler, box, "a", 5000);
    // A setImmediate and a timer queued now still run while the chain goes on.
    const atImmediate: number[] = [];
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        atImmediate.push(chain.count());
        setImmediate(() => {
          atImmediate.push(chain.count());
          resolve();
        });
      }),
    );
    expect(atImmediate).toEqual([200, 400]);
    const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(chain.count()), 2));
    expect(atTimer).toBeGreaterThan(400);
    expect(atTimer).toBeLessThan(5000);
    expect(atTimer % 200).toBe(0);
    await idle(chain.count);
    expect(chain.count()).toBe(5000);
    expect(box.queued).toBe(false);
  });

  it("gives the event loop a turn after sliceMs, however few messages that took", async () => {
    const { scheduler, mailbox } = setup({ serviceBatch: 1, tickBudget: 1e9, sliceMs: 5 });
    const start = performance.now();
    /** When each message ended, in ms since just before the chain began. */
    const ends: number[] = [];
    const spin = () => {
      const until = performance.now() + 1;
      while (performance.now() < until);
      ends.push(performance.now() - start);
    };
    const chain = endless(scheduler, mailbox(), "a", 100, spin);
    const seen = await new Promise<number[]>((resolve) => setImmediate(() => resolve([...ends])));
    // Each message takes 1 ms or more: the turn ends with the first one to end past 5 ms, not after the hundredth.
    expect(seen.length).toBeLessThan(20);
    expect(seen.at(-1)).toBeGreaterThan(5);
    // (1 ms of slack: the slice starts a moment after `start`.)
    expect(seen.slice(0, -1).every((end) => end <= 6)).toBe(true);
    await idle(chain.count);
    expect(chain.count()).toBe(100);
  });

  it("serviceBatch: two busy mailboxes take turns, batch by batch", async () => {
    const { scheduler, log, mailbox } = setup({ serviceBatch: 3, tickBudget: 1e9, sliceMs: 1e9 });
    const a = endless(scheduler, mailbox(), "a", 15);
    const b = endless(scheduler, mailbox(), "b", 15);
    await idle(() => a.count() + b.count());
    expect(log.join("")).toBe("aaabbb".repeat(5));
  });

  it("serviceBatch: messages already queued are taken in batches too, and the last short batch ends the mailbox's turn", async () => {
    const { scheduler, log, mailbox } = setup({ serviceBatch: 3, tickBudget: 1e9, sliceMs: 1e9 });
    const a = mailbox();
    const b = mailbox();
    for (let i = 0; i < 7; i++) a.push(msg("a"));
    for (let i = 0; i < 4; i++) b.push(msg("b"));
    scheduler.ready(a);
    scheduler.ready(b);
    await idle(() => log.length);
    expect(log.join("")).toBe("aaabbbaaaba");
    expect([a.queued, b.queued, a.length, b.length]).toEqual([false, false, 0, 0]);
  });

  it("follow-ups run right after the handler that queued them, and what they resumed runs before the next message", async () => {
    const { scheduler, log, mailbox } = setup({ serviceBatch: 64, tickBudget: 1e9, sliceMs: 1e9 });
    const a = mailbox();
    (a.owner as Owner).onDispatch = (envelope) => {
      if (envelope.cmd !== "m1") return;
      let resume!: () => void;
      void new Promise<void>((resolve) => (resume = resolve)).then(() => log.push("resumed"));
      a.follow(() => {
        log.push("fork");
        resume();
      });
      a.follow(() => log.push("fork2"));
    };
    for (const cmd of ["m1", "m2", "m3"]) a.push(msg(cmd));
    scheduler.ready(a);
    await idle(() => log.length);
    expect(log).toEqual(["m1", "fork", "fork2", "resumed", "m2", "m3"]);
  });

  it("flushes the transport at the end of each tick", async () => {
    // The budget is checked between batches: serviceBatch 5 lets tickBudget 10 end a tick after two.
    const { scheduler, log, mailbox, flushes } = setup({ serviceBatch: 5, tickBudget: 10, sliceMs: 1e9 });
    const a = mailbox();
    for (let i = 0; i < 25; i++) a.push(msg("a"));
    scheduler.ready(a);
    await idle(() => log.length);
    expect(log.length).toBe(25);
    // 10 + 10 + 5: three ticks, each flushed.
    expect(flushes()).toBe(3);
  });

  it("a mailbox still past its overload mark as the turn ends is reported once; a burst drained within the turn is not", async () => {
    const { scheduler, log, mailbox } = setup({ serviceBatch: 50, tickBudget: 100, sliceMs: 1e9 });
    const burst = (box: Mailbox, n: number) => {
      for (let i = 0; i < n; i++) if (box.push(msg("x"))) scheduler.watchOverload(box);
      scheduler.ready(box);
    };
    const slow = mailbox();
    burst(slow, 2000);
    await idle(() => log.length);
    expect(log.length).toBe(2000);
    // Past 1024 after the first turn's 100: one line, at 1900; the next mark would be 2048.
    expect((slow.owner as Owner).overloads).toEqual([1900]);

    const { scheduler: roomy, log: log2, mailbox: mailbox2 } = setup({ serviceBatch: 5000, tickBudget: 1e9, sliceMs: 1e9 });
    const quick = mailbox2();
    for (let i = 0; i < 2000; i++) if (quick.push(msg("x"))) roomy.watchOverload(quick);
    roomy.ready(quick);
    await idle(() => log2.length);
    expect(log2.length).toBe(2000);
    expect((quick.owner as Owner).overloads).toEqual([]);
  });
});

describe("follow-ups in real services", () => {
  it("svc.fork runs after the handler that forked, before the next message", async () => {
    const lb = loopback({ workers: 1 });
    const log: string[] = [];
    const svc = await lb.launch(1, (svc) => ({
      first() {
        svc.fork(async (tag: string) => {
          log.push(`fork ${tag}`);
          await null;
          log.push(`fork ${tag} resumed`);
        }, "x");
        log.push("first");
      },
      second: () => void log.push("second"),
      log: () => log,
    }));
    const { ctx } = lb.host(1).system;
    ctx.send(svc, "first");
    ctx.send(svc, "second");
    expect(await lb.call(1, svc, "log")).toEqual(["first", "fork x", "fork x resumed", "second"]);
  });

  it("svc.wakeup resumes the waiting task after the waker's handler, before the next message", async () => {
    const lb = loopback({ workers: 1 });
    const log: string[] = [];
    const svc = await lb.launch(1, (svc) => ({
      async sleeper() {
        log.push("waiting");
        await svc.wait("token");
        log.push("woken");
      },
      waker() {
        log.push(`wakeup: ${svc.wakeup("token")}`);
        log.push("waker done");
      },
      next: () => void log.push("next"),
      log: () => log,
    }));
    const { ctx } = lb.host(1).system;
    ctx.send(svc, "sleeper");
    ctx.send(svc, "waker");
    ctx.send(svc, "next");
    expect(await lb.call(1, svc, "log")).toEqual(["waiting", "wakeup: true", "waker done", "woken", "next"]);
  });
});
