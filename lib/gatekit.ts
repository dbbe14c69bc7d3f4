/**
 * What both gate templates (TCP gateserver, websocket wsgateserver) do the same way: keeping a
 * throwing handler from taking the gate down, and coalescing one turn's writes to a socket.
 */
import type { Socket } from "node:net";
import type { Service } from "../runtime/context.js";

/** Runs a handler callback; what it throws (or rejects with) is logged, never propagated. */
export function containHandler(svc: Service, gateName: string): (what: string, fn: () => unknown) => void {
  const report = (what: string, err: unknown) => svc.log(`${gateName} handler ${what} failed: ${describe(err)}`);
  return (what, fn) => {
    try {
      const result = fn() as Promise<unknown> | undefined;
      if (result && typeof result.then === "function") result.then(undefined, (err: unknown) => report(what, err));
    } catch (err) {
      report(what, err);
    }
  };
}

/**
 * Corks `socket` until the end of this turn, once per turn: every packet written to it meanwhile
 * leaves in one system call (what skynet's gate gets from writing in one pass of its loop).
 */
export function corkForTurn(c: { corked: boolean }, socket: Socket): void {
  if (c.corked) return;
  c.corked = true;
  socket.cork();
  process.nextTick(() => {
    c.corked = false;
    socket.uncork();
  });
}

/** `open`'s maxclient, checked: a positive integer, default `fallback`. */
export function maxclientOf(value: unknown, fallback: number): number {
  const maxclient = value ?? fallback;
  if (!Number.isInteger(maxclient) || (maxclient as number) < 1) throw new RangeError(`maxclient must be a positive integer, not ${String(value)}`);
  return maxclient as number;
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
