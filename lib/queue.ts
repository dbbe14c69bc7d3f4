/**
 * A critical section for handlers that must not interleave (skynet.queue). Handlers of one
 * service normally interleave at every await; those run through the same queue do not: each
 * waits for the previous one to finish, in arrival order.
 *
 * It is re-entrant for the same task: code already inside the queue that enters it again runs
 * at once instead of waiting for itself. As in skynet, a handler started by another message
 * (even one caused by a call made from inside the queue) is a different task and waits.
 *
 * It tracks tasks with AsyncLocalStorage, which in Node 20 adds a few hundred ns to every
 * promise on the worker threads that use it.
 *
 * @example
 * const cs = queue();
 * return {
 *   async withdraw(amount: number) {
 *     return cs(async () => {
 *       const balance = await svc.call(db, "get", "balance");
 *       await svc.call(db, "set", "balance", balance - amount);
 *     });
 *   },
 * };
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { isolateAsyncContext } from "../runtime/scheduler.js";

export type CriticalSection = <T>(task: () => T | Promise<T>) => Promise<T>;

export function queue(): CriticalSection {
  isolateAsyncContext();
  // The store marks "this async chain is inside this queue"; it follows the task across awaits.
  const inside = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => T | Promise<T>): Promise<T> => {
    if (inside.getStore()) return (async () => task())();
    const run = tail.then(() => inside.run(true, task));
    tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
}
