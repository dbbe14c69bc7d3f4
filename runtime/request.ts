/**
 * Many calls at once, answers taken as they arrive (skynet.request / select):
 *
 *   const reqs = svc.request();
 *   for (const room of rooms) reqs.add(room, "score");
 *   for await (const answer of reqs.select(500)) if (answer.ok) total += answer.value;
 *
 * Every call is sent when it is added. `select(ms)` yields each answer (or failure) in the order
 * they arrive and ends when all have come or `ms` has passed since select began; answers after
 * that are dropped, and `unanswered()` lists the requests that had none.
 */
import { setMaxListeners } from "node:events";
import type { Address, CommandArgs, CommandName } from "./define.js";
import { UsageError } from "./errors.js";
import { Fifo } from "./fifo.js";
import type { Handle } from "./handle.js";

/** One call of a request set, as it was added. */
export interface Request {
  /** Position in the order of `add`, from 0. */
  readonly index: number;
  readonly addr: Handle | string;
  readonly cmd: string;
  readonly args: readonly unknown[];
}

export type Answer<T = unknown> = { request: Request; ok: true; value: T } | { request: Request; ok: false; error: Error };

/** How a request set makes a call: the service's call, with a signal that gives it up. */
export type Caller = (addr: Handle | string, cmd: string, args: unknown[], signal: AbortSignal) => Promise<unknown>;

export class RequestSet<T = unknown> {
  private added = 0;
  private readonly arrived = new Fifo<Answer<T>>();
  private readonly open = new Set<Request>();
  private readonly giveUp = new AbortController();
  /** Wakes the running select when an answer arrives. */
  private notify: (() => void) | undefined;
  private selected = false;
  private done = false;

  constructor(private readonly caller: Caller) {
    // Each pending call listens on the one signal; a set of thousands is normal, not a leak.
    setMaxListeners(0, this.giveUp.signal);
  }

  /** Sends a call now; its answer comes out of `select`. */
  add<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): Request {
    if (this.done) throw new UsageError("this request set's select has ended; start a new svc.request()");
    const request: Request = { index: this.added++, addr, cmd, args };
    this.open.add(request);
    this.caller(addr, cmd, args, this.giveUp.signal).then(
      (value) => this.arrive({ request, ok: true, value: value as T }),
      (error: Error) => this.arrive({ request, ok: false, error }),
    );
    return request;
  }

  /** Requests with no answer yet (after select: those it gave up on). */
  unanswered(): Request[] {
    return [...this.open];
  }

  /**
   * Yields answers as they arrive, until every request has one or `timeoutMs` (from this call)
   * has passed; with no timeout it waits for all. Leaving the loop early also gives up the rest.
   * A set can be selected once; calls may still be added while its loop runs.
   */
  select(timeoutMs?: number): AsyncGenerator<Answer<T>, void, undefined> {
    if (this.selected) throw new UsageError("a request set can be selected only once");
    this.selected = true;
    // At the deadline the rest is given up at once, even while the loop's body is busy: an
    // answer that comes later is dropped, those that came before are still yielded.
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.end(), timeoutMs);
    return this.answers(timer);
  }

  private async *answers(timer: NodeJS.Timeout | undefined): AsyncGenerator<Answer<T>, void, undefined> {
    try {
      for (;;) {
        const answer = this.arrived.shift();
        if (answer !== undefined) {
          yield answer;
          continue;
        }
        if (this.done || this.open.size === 0) return;
        await new Promise<void>((resolve) => (this.notify = resolve));
        this.notify = undefined;
      }
    } finally {
      clearTimeout(timer);
      this.end();
    }
  }

  /** No more answers: the calls still out are given up (their late answers are dropped). */
  private end(): void {
    if (this.done) return;
    this.done = true;
    this.giveUp.abort();
    this.notify?.();
  }

  private arrive(answer: Answer<T>): void {
    // Calls given up on settle with a timeout error: they were dropped, not answered.
    if (this.done || !this.open.delete(answer.request)) return;
    this.arrived.push(answer);
    this.notify?.();
  }
}
