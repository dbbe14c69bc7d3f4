/**
 * A service's mailbox: what the scheduler sees of a service, and all it touches. Messages wait
 * in `queue`; forks and wakeups wait in the follow-up lane, which runs right after the handler
 * that queued them, before the next message (skynet's fork and wakeup queues). The mailbox
 * also keeps the run flags (in the run queue, resumed a task) and the "may overload" marks.
 */
import { defaults } from "./defaults.js";
import { Fifo } from "./fifo.js";
import type { Envelope } from "./protocol.js";

/** What a mailbox needs of the service it belongs to. */
export interface MailboxOwner {
  /** Whether messages may be handled now: false while starting (they wait) or once exiting. */
  readonly running: boolean;
  /** Handles one message. */
  dispatch(envelope: Envelope): void;
  /** Runs one follow-up (a fork's body, a wakeup's resume). */
  runLocal(callback: () => unknown): void;
  /** The queue was still at or past `length` as the thread's turn ended. */
  overloaded(length: number): void;
  /** Called after each run with the queue's length (load watching). */
  ran(length: number): void;
}

export class Mailbox {
  readonly queue = new Fifo<Envelope>();
  private readonly followUps = new Fifo<() => unknown>();
  /** In the scheduler's run queue. */
  queued = false;
  /** Follow-ups ran: the scheduler lets microtasks (what they resumed) run before the next message. */
  resumed = false;
  /** Messages handled, and milliseconds spent handling them (the console's `stat`). */
  messages = 0;
  cpu = 0;
  /** The length that counts as "may overload"; it doubles past each report. */
  private overloadAt: number = defaults.overload;
  /** Passed overloadAt: the scheduler looks again when the thread's turn ends. */
  overloadWatched = false;

  constructor(readonly owner: MailboxOwner) {}

  get length(): number {
    return this.queue.length;
  }

  /** Something to run: mail, or follow-ups queued by the last handler. */
  get hasWork(): boolean {
    return this.queue.length > 0 || this.followUps.length > 0;
  }

  /** Queues a message; true when the mailbox is past its overload mark (the scheduler should look). */
  push(envelope: Envelope): boolean {
    this.queue.push(envelope);
    return this.queue.length >= this.overloadAt;
  }

  /** Queues a follow-up. */
  follow(callback: () => unknown): void {
    this.followUps.push(callback);
  }

  /** Handles up to `limit` messages; returns how many. */
  run(limit: number): number {
    const queue = this.queue;
    const owner = this.owner;
    let n = 0;
    this.runFollowUps();
    while (n < limit && owner.running) {
      const envelope = queue.shift();
      if (envelope === undefined) break;
      n++;
      this.messages++;
      owner.dispatch(envelope);
      // Forks and wakeups run right after the handler that queued them, as in skynet; then the
      // batch ends, so what they resumed (a promise continuation) runs before the next message.
      if (this.followUps.length > 0) {
        this.runFollowUps();
        this.resumed = true;
        break;
      }
    }
    if (queue.length === 0) this.overloadAt = defaults.overload;
    owner.ran(queue.length);
    return n;
  }

  /**
   * "May overload" when the queue is still at its mark as the thread's turn ends (skynet's
   * monitor checks at once; weft runs a turn's messages in one go, so a burst its services
   * absorb within the turn is no sign of overload). The next mark is the doubling past the
   * length seen, so a huge burst gives one line, not one per doubling.
   */
  checkOverload(): void {
    this.overloadWatched = false;
    const length = this.queue.length;
    if (length < this.overloadAt || !this.owner.running) return;
    this.owner.overloaded(length);
    while (this.overloadAt <= length) this.overloadAt *= 2;
  }

  /** Empties the queue and the follow-ups (the service exits); returns the messages. */
  drain(): Envelope[] {
    this.followUps.drain();
    return this.queue.drain();
  }

  private runFollowUps(): void {
    const owner = this.owner;
    for (let callback = this.followUps.shift(); callback !== undefined; callback = this.followUps.shift()) {
      if (!owner.running) return;
      owner.runLocal(callback);
    }
  }
}
