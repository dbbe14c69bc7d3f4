/**
 * The calls one service is waiting on, by session. Every way a call ends goes through here:
 * its answer, its error, its timeout, its abort signal, the loss of the callee's worker, the
 * caller's exit. Each ends it once; whatever comes after (a late answer) finds nothing.
 */
import { errorFromWire } from "./codec.js";
import { CallTimeoutError, errorClassFor, RemoteError } from "./errors.js";
import { formatHandle, SLOT_BITS, type Handle } from "./handle.js";
import type { WireError } from "./protocol.js";

export interface PendingCall {
  resolve(value: unknown): void;
  reject(err: Error): void;
  dest: Handle;
  cmd: string;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class CallTable {
  private readonly calls = new Map<number, PendingCall>();
  private nextSession = 1;

  get size(): number {
    return this.calls.size;
  }

  /**
   * A new call to `dest`; returns its session. After `timeoutMs` (0: never) or when `signal`
   * aborts, it fails with CallTimeoutError and its answer, should one come, is dropped.
   */
  add(dest: Handle, cmd: string, resolve: (value: unknown) => void, reject: (err: Error) => void, timeoutMs: number, signal?: AbortSignal): number {
    let session = this.nextSession;
    // After 2^31 calls the numbers come round again: one still waiting (a long poll) keeps its own.
    while (this.calls.has(session)) session = session === 0x7fffffff ? 1 : session + 1;
    this.nextSession = session === 0x7fffffff ? 1 : session + 1;
    const call: PendingCall = { resolve, reject, dest, cmd };
    if (timeoutMs > 0) {
      call.timer = setTimeout(() => this.fail(session, new CallTimeoutError(`${formatHandle(dest)} did not answer "${cmd}" within ${timeoutMs} ms`)), timeoutMs);
    }
    this.calls.set(session, call);
    if (signal?.aborted) {
      this.fail(session, new CallTimeoutError(`gave up before ${formatHandle(dest)} could answer "${cmd}"`));
      return session;
    }
    if (signal) {
      call.signal = signal;
      call.onAbort = () => this.fail(session, new CallTimeoutError(`gave up waiting for ${formatHandle(dest)} to answer "${cmd}"`));
      signal.addEventListener("abort", call.onAbort, { once: true });
    }
    return session;
  }

  /** Takes the call out of the table (it is answered now); undefined if it already ended. */
  take(session: number): PendingCall | undefined {
    const call = this.calls.get(session);
    if (call === undefined) return undefined;
    this.calls.delete(session);
    release(call);
    return call;
  }

  /** Ends one call with `err`; false if it had ended already. */
  fail(session: number, err: Error): boolean {
    const call = this.take(session);
    if (call === undefined) return false;
    call.reject(err);
    return true;
  }

  /** Ends every call waiting on a service of `slot` (its worker is gone). */
  failTo(slot: number, err: (call: PendingCall) => Error): void {
    for (const [session, call] of this.calls) if (call.dest >>> SLOT_BITS === slot) this.fail(session, err(call));
  }

  /** Ends every call (the caller exits, or the runtime stops). */
  failAll(err: (call: PendingCall) => Error): void {
    for (const session of [...this.calls.keys()]) {
      const call = this.take(session)!;
      call.reject(err(call));
    }
  }

  /** The calls waiting, for the console's `task`. */
  list(): { session: number; dest: string; cmd: string }[] {
    return [...this.calls].map(([session, call]) => ({ session, dest: formatHandle(call.dest), cmd: call.cmd }));
  }
}

function release(call: PendingCall): void {
  if (call.timer) clearTimeout(call.timer);
  // The signal may outlive many calls: a call that ended no longer listens to it.
  if (call.onAbort) call.signal!.removeEventListener("abort", call.onAbort);
}

/** The error a caller gets for an error answer: weft's own keep their class, a handler's becomes a RemoteError. */
export function callError(call: PendingCall, wire: WireError): Error {
  const Known = errorClassFor(wire.code, wire.byRuntime === true);
  if (Known) return new Known(wire.message, { cause: wire.cause ? errorFromWire(wire.cause) : undefined });
  const cause = errorFromWire(wire);
  return new RemoteError(`${formatHandle(call.dest)} failed on "${call.cmd}": ${wire.message}`, { cause });
}
