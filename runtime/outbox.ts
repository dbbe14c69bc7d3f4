/**
 * What leaves one service: sends and calls, the calls it waits on, and the order of both.
 * Names this thread does not know yet are looked up at the kernel; until such a lookup is
 * done, the service's later messages queue behind it, so per-sender order holds.
 */
import { CallTimeoutError, NoSuchServiceError, ServiceExitedError, WeftError } from "./errors.js";
import { formatHandle, hostHandle, type Handle } from "./handle.js";
import { protocolLabel, PROTO } from "./protocol.js";
import type { ServiceInstance } from "./service.js";

export class Outbox {
  /** Name lookups in flight: while there are any, later messages queue behind them. */
  private lookups = 0;
  private lookupChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly service: ServiceInstance) {}

  /**
   * A call; the body is sealed. The hot path stays free of async functions. Aborting `signal`
   * gives the call up as a timeout would: its answer, if one comes, is dropped.
   */
  call(addr: Handle | string, proto: number, cmd: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const dest = typeof addr === "number" ? addr : this.service.host.names.get(addr);
    const answer =
      dest !== undefined && this.lookups === 0
        ? this.request(dest, proto, cmd, body, timeoutMs, signal)
        : this.afterLookups(addr, (found) => this.request(found, proto, cmd, body, timeoutMs, signal));
    return answer.catch(atCaller);
  }

  /** A one-way message; the body is sealed. Sent now if the name is known on this thread. */
  send(addr: Handle | string, proto: number, cmd: string, body: unknown): void {
    const { host, handle } = this.service;
    const dest = host.resolve(addr);
    if (dest !== undefined && this.lookups === 0) {
      host.post(dest, handle, 0, proto, cmd, body);
      return;
    }
    this.afterLookups(addr, (found) => host.post(found, handle, 0, proto, cmd, body)).catch((err: Error) =>
      host.log(handle, `dropped a message to ${String(addr)}: ${err.message}`),
    );
  }

  resolveNow(addr: Handle | string): Handle {
    const dest = this.service.host.resolve(addr);
    if (dest === undefined) throw new NoSuchServiceError(`no service named "${String(addr)}"`);
    return dest;
  }

  /** A handle, or a name looked up on this thread, then at the kernel. */
  async resolve(addr: Handle | string): Promise<Handle> {
    const dest = this.service.host.resolve(addr);
    if (dest !== undefined) return dest;
    const found = await this.request(hostHandle(0), PROTO.system, "", { op: "queryName", name: addr }, 0);
    if (typeof found !== "number") throw new NoSuchServiceError(`no service named "${String(addr)}"`);
    return found;
  }

  /**
   * Resolves `addr` after every earlier lookup of this service, then runs `use` (which posts)
   * inside the chain, before the count drops; its promise (a call's answer) is boxed so the
   * chain waits for lookups only, never for answers.
   */
  private afterLookups<T>(addr: Handle | string, use: (dest: Handle) => Promise<T> | void): Promise<T> {
    this.lookups++;
    const posted = this.lookupChain.then(() => this.resolve(addr)).then((dest) => ({ answer: use(dest) }));
    const done = () => {
      this.lookups--;
    };
    this.lookupChain = posted.then(done, done);
    return posted.then((box) => box.answer as Promise<T>);
  }

  private request(dest: Handle, proto: number, cmd: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const service = this.service;
    if (service.exited) return Promise.reject(new ServiceExitedError(`${service.address} has exited and cannot call ${formatHandle(dest)}`));
    if (signal?.aborted) return Promise.reject(new CallTimeoutError(`gave up before calling ${formatHandle(dest)}`));
    return new Promise((resolve, reject) => {
      const session = service.calls.add(dest, cmd || protocolLabel(proto), resolve, reject, timeoutMs, signal);
      try {
        service.host.post(dest, service.handle, session, proto, cmd, body);
      } catch (err) {
        // Not sent (a command too long for a record): the call was never made.
        service.calls.take(session);
        throw err;
      }
    });
  }
}

/**
 * Errors of a call are made on another thread or in the scheduler. Capturing the stack again in
 * this rejection handler, which V8 runs inside the caller's async chain, makes the trace end at
 * the user's own `await svc.call(...)` (at no cost to calls that succeed).
 */
function atCaller(err: unknown): never {
  if (err instanceof WeftError) Error.captureStackTrace(err, atCaller);
  throw err;
}
