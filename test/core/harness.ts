/**
 * A loopback of hosts in ONE thread: the layer of tests below worker threads (issue 16).
 *
 * Each host is a real `Host` (services, scheduler, call tables, routes) at its own slot; every
 * pair of hosts is linked as the kernel links two threads (runtime/kernel.ts `pair`): a ring
 * each way (createRing) and a MessageChannel, attached with `host.rings.attach(slot, link)`.
 * So a message between two hosts here goes through the same records, rings and doorbells as
 * one between two worker threads, only without the threads: a test runs in milliseconds.
 *
 * Services come from test fixtures (dist/test/fixtures, `lb.launchModule`) or are written in the
 * test itself (`lb.launch(slot, (svc) => ({ ...commands }))`, through fixtures/core_inline.ts).
 *
 * What the kernel (slot 0) does is mostly absent:
 * - without `kernel: true`, slot 0 is a route that refuses every call with NotRunningError
 *   ("the loopback has no kernel"), and logs the sends it drops, so a test that needs the kernel
 *   says so at once instead of waiting forever;
 * - with `kernel: true`, slot 0 is a minimal host linked by rings like the others, whose system
 *   endpoint answers `register`, `unregister` and `queryName` (names are set on every host at
 *   once, not broadcast) and refuses anything else;
 * - there is never a launcher (`.launcher`): svc.newService, monitor, remember cannot work here.
 *
 * Log lines (svc.log, a send's error, "May overload") go to a logger route at slot LOG_SLOT and
 * land in `lb.logs`, synchronously. `close()` ends every service, closes every ring's port and
 * stops every poll: nothing stays open after it.
 */
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { onTestFinished } from "vitest";
import { formatHandle, NameTakenError, NotRunningError, type Handle, type Service } from "weft";
import { createRing, errorToWire, Host, open, hostHandle, PROTO, type Link, type ServiceInstance, type SystemRequest, type Transport } from "weft/internal";

export const fixtures = fileURLToPath(new URL("../../dist/test/fixtures/", import.meta.url));

/** The slot whose route is the loopback's logger. */
export const LOG_SLOT = 254;
/** The logger's handle, as `.logger` on every host. */
export const LOGGER = (hostHandle(LOG_SLOT) | 1) >>> 0;

export interface LoopbackOptions {
  /** Hosts at slots 1..workers (default 2). */
  workers?: number;
  /** A minimal kernel host at slot 0 (names only); default: slot 0 refuses. */
  kernel?: boolean;
  /** Bytes of each ring (a power of two >= 1024; default 64 KiB). */
  ringBytes?: number;
  /** The env every host starts with (`thread` is set to `workers`). */
  env?: Record<string, unknown>;
}

/** A start function for an inline service: the commands it returns are its command table. */
export type InlineStart = (svc: Service) => object | void | Promise<object | void>;

export class Loopback {
  readonly hosts = new Map<number, Host>();
  /** Every log line, as `[:address] text`. */
  readonly logs: string[] = [];
  /** Links made, both ends (closed by close()). */
  private readonly ports: MessagePort[] = [];
  private readonly logWaiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  private closed = false;

  constructor(private readonly options: Required<Omit<LoopbackOptions, "env">> & { env: Record<string, unknown> }) {
    const counters = new Int32Array(new SharedArrayBuffer(256 * 4));
    const doorbells = new Int32Array(new SharedArrayBuffer(256 * 4));
    const loads = new Int32Array(new SharedArrayBuffer(256 * 4));
    const slots = Array.from({ length: options.workers }, (_, i) => i + 1);
    if (options.kernel) slots.unshift(0);
    for (const slot of slots) {
      const host = new Host({
        slot,
        counters,
        doorbells,
        loads,
        servicePath: [fixtures],
        env: { ...options.env, thread: options.workers },
        names: { ".logger": LOGGER },
        startTime: Date.now(),
      });
      host.routes.set(LOG_SLOT, this.logRoute);
      if (slot === 0) host.onSystem((request) => this.kernelAnswer(request));
      else if (!options.kernel) host.routes.set(0, this.noKernel(host));
      this.hosts.set(slot, host);
    }
    for (const a of slots) {
      for (const b of slots) {
        if (b <= a) continue;
        const [aEnd, bEnd] = this.pair();
        this.host(a).rings.attach(b, aEnd);
        this.host(b).rings.attach(a, bEnd);
      }
    }
  }

  host(slot: number): Host {
    const host = this.hosts.get(slot);
    if (host === undefined) throw new Error(`the loopback has no host at slot ${slot} (slots: ${[...this.hosts.keys()].join(", ")})`);
    return host;
  }

  /** The service at `handle`, on whichever host has it. */
  service(handle: Handle): ServiceInstance {
    const service = this.hosts.get(handle >>> 24)?.services.get(handle);
    if (service === undefined) throw new Error(`no service at ${formatHandle(handle)} in the loopback`);
    return service;
  }

  /** Starts a service written in the test on host `slot`. */
  launch(slot: number, start: InlineStart): Promise<Handle> {
    return this.host(slot).launch("core_inline", [start]);
  }

  /** Starts a fixture module (dist/test/fixtures/<name>.js) on host `slot`. */
  launchModule(slot: number, name: string, ...args: unknown[]): Promise<Handle> {
    return this.host(slot).launch(name, args);
  }

  /** A call from host `slot`'s system endpoint: the test as a caller living on that host. */
  call(slot: number, dest: Handle, cmd: string, ...args: unknown[]): Promise<any> {
    return this.host(slot).system.ctx.call(dest, cmd, ...args);
  }

  /** Resolves with the first log line (past or future) matching `pattern`. */
  waitForLog(pattern: RegExp): Promise<string> {
    const seen = this.logs.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.logWaiters.add({ pattern, resolve }));
  }

  /** Ends every service (exit hooks run), then closes every link. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Workers first, the kernel last: their exits may still unregister names at slot 0.
    const hosts = [...this.hosts.values()].reverse();
    for (const host of hosts) await host.exitAll("shutdown");
    const portsClosed = this.ports.map((port) => new Promise<void>((resolve) => port.once("close", () => resolve())));
    for (const host of hosts) host.rings.close();
    for (const port of this.ports) port.close();
    // A port is closed for good (off the event loop) once its "close" event has fired.
    await Promise.all(portsClosed);
  }

  /** Both ends of a new link, as the kernel makes them. */
  private pair(): [Link, Link] {
    const { port1, port2 } = new MessageChannel();
    this.ports.push(port1, port2);
    const ab = createRing(this.options.ringBytes);
    const ba = createRing(this.options.ringBytes);
    return [
      { port: port1, out: ab, in: ba },
      { port: port2, out: ba, in: ab },
    ];
  }

  private readonly logRoute: Transport = {
    post: (_dest, source, _session, _proto, _cmd, body) => {
      const line = `[${formatHandle(source)}] ${String(body)}`;
      this.logs.push(line);
      for (const waiter of this.logWaiters) {
        if (!waiter.pattern.test(line)) continue;
        this.logWaiters.delete(waiter);
        waiter.resolve(line);
      }
    },
  };

  /** Slot 0 when there is no kernel: calls fail at once and say why, sends are logged as dropped. */
  private noKernel(host: Host): Transport {
    return {
      post: (dest, source, session, proto, cmd, body) => {
        if (proto === PROTO.response || proto === PROTO.error) return;
        const what = proto === PROTO.system ? `system request "${(open(body) as SystemRequest | undefined)?.op}"` : `"${cmd}"`;
        const err = new NotRunningError(`the loopback has no kernel (slot 0): ${what} to ${formatHandle(dest)} cannot be answered; use loopback({ kernel: true })`);
        if (session <= 0) {
          this.logRoute.post(LOGGER, source, 0, PROTO.text, "", `dropped: ${err.message}`);
          return;
        }
        // Answered in a later microtask, as an answer from another thread would be.
        queueMicrotask(() => host.post(source, dest, session, PROTO.error, "", errorToWire(err, true)));
      },
    };
  }

  /** The kernel's system endpoint, reduced to the names table. */
  private kernelAnswer(request: SystemRequest): unknown {
    const kernel = this.host(0);
    switch (request.op) {
      case "register": {
        const owner = kernel.names.get(request.name);
        if (owner !== undefined && owner !== request.handle) throw new NameTakenError(`name "${request.name}" is taken by ${formatHandle(owner)}`);
        for (const host of this.hosts.values()) host.names.set(request.name, request.handle);
        return true;
      }
      case "unregister":
        for (const name of request.names) {
          if (kernel.names.get(name) !== request.handle) continue;
          for (const host of this.hosts.values()) host.names.delete(name);
        }
        return true;
      case "queryName":
        return kernel.names.get(request.name);
      default:
        throw new NotRunningError(`the loopback's kernel answers register, unregister and queryName only, not "${request.op}"`);
    }
  }
}

/** A loopback for one test, closed when the test finishes, pass or fail. */
export function loopback(options: LoopbackOptions = {}): Loopback {
  const lb = new Loopback({ workers: 2, kernel: false, ringBytes: 64 * 1024, ...options, env: options.env ?? {} });
  onTestFinished(() => lb.close());
  return lb;
}
