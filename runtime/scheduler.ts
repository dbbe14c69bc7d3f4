/**
 * Runs the services of one thread that have mail. Work is drained in microtasks, so a call
 * between two services on the same thread costs no event-loop turn; after a budget of messages
 * or milliseconds the scheduler steps aside with setImmediate so sockets and timers get a turn.
 *
 * The budget starts again with each turn of the event loop: the first wake-up in a turn (from a
 * socket read, a timer, a batch from another thread, whatever woke it) resets it and marks the
 * turn until the loop's check phase. A chain of microtasks never reaches that phase, so it
 * keeps spending one budget and is cut off as it should be.
 */
import { AsyncResource } from "node:async_hooks";
import { performance } from "node:perf_hooks";
import { defaults } from "./defaults.js";
import { Fifo } from "./fifo.js";
import type { Mailbox } from "./mailbox.js";

/** A native microtask: queueMicrotask's async_hooks wrapper costs more than the work it schedules. */
const resolved = Promise.resolve();

/**
 * A microtask carries the async context of whoever queued it, so with AsyncLocalStorage in use
 * a tick would run every handler inside, say, the critical section (lib/queue) of the service
 * that happened to wake the scheduler. Binding the tick to a root context prevents that, at
 * ~200 ns a tick; threads that never use AsyncLocalStorage have nothing to leak and skip it.
 */
let isolated = false;

/** Called by code that uses AsyncLocalStorage in a service (lib/queue does). */
export function isolateAsyncContext(): void {
  isolated = true;
}

/** Messages one mailbox handles in a row, messages per turn, and milliseconds per turn. */
export interface SchedulerBudget {
  serviceBatch: number;
  tickBudget: number;
  sliceMs: number;
}

export class Scheduler {
  private readonly runQueue = new Fifo<Mailbox>();
  private scheduled = false;
  private ticking = false;
  /** Messages and time spent since the event loop last had a turn. */
  private handled = 0;
  private sliceStart = performance.now();
  /** A wake-up in this turn of the event loop has reset the budget already. */
  private inTurn = false;
  /** Services whose mailbox passed its overload mark during this turn. */
  private overloaded: Mailbox[] = [];

  constructor(
    private readonly flush: () => void,
    /** The budget of one turn of the event loop; tests set small ones. */
    private readonly budget: SchedulerBudget = defaults,
  ) {}

  ready(mailbox: Mailbox): void {
    if (!mailbox.queued) {
      mailbox.queued = true;
      this.runQueue.push(mailbox);
    }
    this.wake();
  }

  /** A mailbox passed its mark: it is looked at again when the work of this turn is done. */
  watchOverload(mailbox: Mailbox): void {
    if (mailbox.overloadWatched) return;
    mailbox.overloadWatched = true;
    this.overloaded.push(mailbox);
    this.wake();
  }

  /** Asks for a tick in this turn (to run services, or only to flush the transport). */
  readonly wake = (): void => {
    if (!this.inTurn) {
      this.inTurn = true;
      this.turn();
      setImmediate(this.endTurn);
    }
    // Inside a tick, the tick's own end decides what comes next.
    if (this.scheduled || this.ticking) return;
    this.scheduled = true;
    void resolved.then(isolated ? this.isolatedTick : this.tick);
  };

  /** The event loop just gave us a turn: the budget starts again. */
  private turn(): void {
    this.handled = 0;
    this.sliceStart = performance.now();
  }

  private readonly endTurn = (): void => {
    this.inTurn = false;
  };

  private readonly tick = (): void => {
    this.scheduled = false;
    this.ticking = true;
    const queue = this.runQueue;
    let now = queue.length > 0 ? performance.now() : this.sliceStart;
    try {
      while (this.handled < this.budget.tickBudget) {
        const mailbox = queue.shift();
        if (mailbox === undefined) break;
        const start = now;
        this.handled += mailbox.run(this.budget.serviceBatch);
        now = performance.now();
        mailbox.cpu += now - start;
        if (mailbox.hasWork && mailbox.owner.running) queue.push(mailbox);
        else mailbox.queued = false;
        if (mailbox.resumed) {
          // A fork or wakeup resumed a task: its continuation is a microtask, and must run
          // before the next message, so this tick ends here and the next one queues behind it.
          mailbox.resumed = false;
          break;
        }
        if (now - this.sliceStart > this.budget.sliceMs) break;
      }
    } finally {
      this.ticking = false;
    }
    this.flush();
    if (queue.length === 0) {
      this.checkOverloads();
      return;
    }
    this.scheduled = true;
    if (this.handled >= this.budget.tickBudget || now - this.sliceStart > this.budget.sliceMs) {
      this.checkOverloads();
      setImmediate(this.nextTurn);
    } else void resolved.then(isolated ? this.isolatedTick : this.tick);
  };

  /** The thread is about to give the event loop a turn: mailboxes still past their mark are reported. */
  private checkOverloads(): void {
    if (this.overloaded.length === 0) return;
    const mailboxes = this.overloaded;
    this.overloaded = [];
    for (const mailbox of mailboxes) mailbox.checkOverload();
  }

  /** The tick, run in the context the scheduler was made in (see isolateAsyncContext). */
  private readonly isolatedTick = AsyncResource.bind(this.tick);

  private readonly nextTurn = (): void => {
    this.turn();
    (isolated ? this.isolatedTick : this.tick)();
  };
}
