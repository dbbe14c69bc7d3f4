/**
 * A host is one thread's share of the runtime: the services living there, the routing of
 * every message they send, and the thread's system endpoint (handle `slot << 24`) that the
 * launcher and the kernel talk to. Worker threads and the main thread each run one.
 */
import createDebug from "debug";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { errorToWire, open, sealArgs } from "./codec.js";
import { defaults } from "./defaults.js";
import { ServiceContext } from "./context.js";
import { installDebug } from "./debug.js";
import { checkSetenv, makeEnv, type Env } from "./env.js";
import { isServiceModule, type StartFunction } from "./define.js";
import {
  NoSuchServiceError,
  NotRunningError,
  ServiceStartError,
  WorkerLostError,
  type WeftError,
} from "./errors.js";
import { formatHandle, hostHandle, LOCAL_MASK, SLOT_BITS, type Handle } from "./handle.js";
import type { Stamp } from "./monitor.js";
import { envelope, protocolLabel, PROTO, type Control, type SystemRequest, type WireError } from "./protocol.js";
import { Scheduler } from "./scheduler.js";
import { checkServiceName } from "./servicename.js";
import { ServiceInstance, type Restart } from "./service.js";
import { callError, type PendingCall } from "./calltable.js";
import { Rings } from "./rings.js";
import { Routes, type Transport, type TransportSink } from "./transport.js";

const trace = createDebug("weft:host");

export interface HostOptions {
  slot: number;
  /** One Int32 counter per slot, in shared memory: handles are never handed out twice. */
  counters: Int32Array;
  /** One Int32 per slot, in shared memory: whether that thread sleeps (see transport). */
  doorbells: Int32Array;
  /** One Int32 per slot, in shared memory: its services and launches on their way (see placement). */
  loads: Int32Array;
  servicePath: string[];
  env: Record<string, unknown>;
  names: Record<string, Handle>;
  startTime: number;
  stamp?: Stamp;
}

export type SystemHandler = (request: SystemRequest, source: Handle) => unknown;

export class Host implements TransportSink {
  readonly slot: number;
  /** Which transport carries a message to each slot: the one routing decision (see post). */
  readonly routes = new Routes();
  /** The rings to the other threads of this process. */
  readonly rings: Rings;
  readonly scheduler: Scheduler;
  readonly services = new Map<Handle, ServiceInstance>();
  /** Shutdown has begun here: no service may start any more. */
  private stopping = false;
  readonly names = new Map<string, Handle>();
  readonly env: Env;
  readonly stamp?: Stamp;
  readonly startTime: number;
  /** Worker threads (config `thread`): slots above it never existed. */
  readonly threads: number;
  /** Config `callTimeout`, read once: every call reads it, and setenv cannot change it. */
  readonly callTimeout: number;
  readonly system: ServiceInstance;
  /** Services per slot, shared by every thread: where newService places (runtime/placement). */
  readonly loads: Int32Array;
  private readonly counters: Int32Array;
  private readonly servicePath: string[];
  private readonly modules = new Map<string, Promise<StartFunction>>();
  private systemOps: SystemHandler = () => undefined;
  /** Told when this thread's transport backs up or drains (svc.watchBackedUp): gates stop reading. */
  readonly backedUpListeners = new Set<(backedUp: boolean) => void>();

  constructor(options: HostOptions) {
    this.slot = options.slot;
    this.counters = options.counters;
    this.loads = options.loads;
    this.servicePath = options.servicePath;
    this.env = makeEnv(options.env);
    this.callTimeout = Number(this.env.callTimeout) || 0;
    this.threads = Number(this.env.thread) || 255;
    for (const [name, handle] of Object.entries(options.names)) this.names.set(name, handle);
    this.startTime = options.startTime;
    this.stamp = options.stamp;
    this.scheduler = new Scheduler(() => this.rings.flush());
    this.routes.set(this.slot, this.local);
    this.rings = new Rings(this.slot, this, this.routes, this.scheduler.wake, options.doorbells, Number(this.env.spin ?? defaults.spinMs));
    this.rings.onBackedUp = (backedUp) => {
      for (const listener of this.backedUpListeners) listener(backedUp);
    };
    this.system = new ServiceInstance(this, hostHandle(this.slot), "system", []);
    this.system.ctx = new ServiceContext(this.system);
    this.system.protocols.set(PROTO.system, (request, source) => this.systemOps(request as SystemRequest, source));
    this.services.set(this.system.handle, this.system);
    this.system.started(undefined);
  }

  /** What this thread's system endpoint answers, beyond what every host answers. */
  onSystem(handler: SystemHandler): void {
    this.systemOps = handler;
  }

  // ---- routing ---------------------------------------------------------------------------

  /** This thread as a transport: a message for one of its own services. */
  private readonly local: Transport = { post: (dest, source, session, proto, cmd, body) => this.receive(dest, source, session, proto, cmd, body) };

  /** Sends one message from `source`; the body must already be sealed (see codec). */
  post(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void {
    const slot = dest >>> SLOT_BITS;
    const transport = this.routes.get(slot);
    if (transport !== undefined) transport.post(dest, source, session, proto, cmd, body);
    else if (slot > this.threads) this.undeliverable(dest, source, session, proto, cmd, new NoSuchServiceError(`no service at ${formatHandle(dest)} (there is no worker ${slot})`));
    else this.undeliverable(dest, source, session, proto, cmd, new WorkerLostError(`worker ${slot} of ${formatHandle(dest)} is gone`));
  }

  receive(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void {
    if (proto === PROTO.response || proto === PROTO.error) {
      this.settle(dest, source, session, proto, body);
      return;
    }
    const service = this.services.get(dest);
    if (service === undefined) {
      this.undeliverable(dest, source, session, proto, cmd, new NoSuchServiceError(`no service at ${formatHandle(dest)}`));
      return;
    }
    service.enqueue(envelope(source, session, proto, cmd, body));
  }

  control(message: Control): void {
    this.onControl?.(message);
  }

  /** Set by the thread's owner (worker entry or kernel) to handle ports and shutdown. */
  onControl?: (message: Control) => void;

  /** A call that cannot arrive is answered at once with the reason; a send is dropped. */
  private undeliverable(dest: Handle, source: Handle, session: number, proto: number, cmd: string, err: WeftError): void {
    if (proto === PROTO.response || proto === PROTO.error) return;
    const what = cmd ? `"${cmd}"` : protocolLabel(proto);
    err.message = `${err.message} (${session > 0 ? "call" : "send"} ${what} from ${formatHandle(source)})`;
    if (session <= 0 || proto === PROTO.local) {
      trace("dropped: %s", err.message);
      return;
    }
    this.post(source, dest, session, PROTO.error, "", errorToWire(err, true));
  }

  private settle(dest: Handle, source: Handle, session: number, proto: number, body: unknown): void {
    // The caller gave up (timeout) or is gone: a late answer is dropped.
    const call = this.services.get(dest)?.calls.take(session);
    if (call === undefined) return;
    // The caller resumes on this answer: the monitor must see what it runs, as for a message.
    this.stamp?.begin(source, dest, call.cmd);
    if (proto === PROTO.response) call.resolve(open(body));
    else call.reject(callError(call, open(body) as WireError));
  }

  /** Fails every call still waiting here (the runtime is stopping). */
  failAllCalls(err: Error): void {
    for (const service of this.services.values()) service.calls.failAll(() => err);
  }

  /** The services of a lost worker will never say their load went down: their watchers are told now. */
  forgetLoadOf(slot: number): void {
    for (const service of this.services.values()) service.forgetLoadOf(slot);
  }

  /** Stops every call of every service here that waits on `slot` (its worker died). */
  failCallsTo(slot: number, reason: string): void {
    const lost = (call: PendingCall) => new WorkerLostError(`${formatHandle(call.dest)} was lost with worker ${slot} before answering "${call.cmd}": ${reason}`);
    for (const service of this.services.values()) service.calls.failTo(slot, lost);
  }

  /** Stores a value (see runtime/env): never a runtime setting, never a prototype key. */
  setenv(key: string, value: unknown): void {
    checkSetenv(key);
    this.env[key] = value;
  }

  // ---- names and logging ------------------------------------------------------------------

  /** A handle, a `.local` name or a global name, resolved from this thread's copy of the table. */
  resolve(address: Handle | string): Handle | undefined {
    return typeof address === "number" ? address : this.names.get(address);
  }

  /** skynet.error: a line for the logger service, prefixed with the service's address. */
  log(source: Handle, text: string): void {
    const logger = this.names.get(".logger");
    if (logger === undefined) {
      process.stderr.write(`[${formatHandle(source)}] ${text}\n`);
      return;
    }
    this.post(logger, source, 0, PROTO.text, "", text);
  }

  // ---- life cycle ---------------------------------------------------------------------------

  /**
   * Starts a service here; resolves once its start function has finished. `restart`: it is a
   * supervised restart, the how-manieth, with what the last instance remembered.
   */
  async launch(name: string, args: unknown[], restart?: Restart): Promise<Handle> {
    // An exit hook that starts a service would start one nobody ends.
    if (this.stopping) throw new NotRunningError(`the runtime is stopping: service "${name}" was not started`);
    const start = await this.load(name);
    const handle = this.allocate();
    const service = new ServiceInstance(this, handle, name, args, restart);
    service.ctx = new ServiceContext(service);
    installDebug(service);
    this.services.set(handle, service);
    trace("slot %d: starting %s %s", this.slot, name, formatHandle(handle));
    try {
      const commands = await start(service.ctx, ...args);
      if (service.alive) service.started(commands);
    } catch (err) {
      await service.exit("start failed");
      const message = err instanceof Error ? err.message : String(err);
      throw new ServiceStartError(`service "${name}" (${formatHandle(handle)}) failed to start: ${message}`, { cause: err });
    }
    return handle;
  }

  /**
   * Called by a service as it exits: frees its handle, tells the launcher, and releases its
   * names; resolves once every worker has forgotten them, so no one finds a dead name after.
   */
  async forget(service: ServiceInstance, reason: string): Promise<void> {
    this.services.delete(service.handle);
    trace("slot %d: %s exited (%s)", this.slot, service.address, reason);
    const names = [...service.names];
    if (names.length > 0) {
      // On the main thread this table is the kernel's own: the kernel drops them and tells everyone.
      if (this.slot !== 0) for (const name of names) if (this.names.get(name) === service.handle) this.names.delete(name);
      await this.askKernel({ op: "unregister", handle: service.handle, names }).catch((err: Error) => trace("unregister failed: %s", err.message));
    }
    // After the names are free, so that a restart (supervision) can take them at once. From
    // this thread's endpoint: the launcher takes such notices from the runtime only.
    const launcher = this.names.get(".launcher");
    if (launcher !== undefined && launcher !== service.handle) {
      this.post(launcher, this.system.handle, 0, PROTO.lua, "exited", sealArgs([service.handle, reason, names]));
    }
  }

  /** A request to the kernel's system endpoint, from this thread's own. */
  askKernel(request: SystemRequest): Promise<unknown> {
    return this.system.ctx.rawCall(hostHandle(0), PROTO.system, request);
  }

  /** Ends every service here except `keep`; exit hooks run. */
  async exitAll(reason: string, keep: Handle[] = []): Promise<void> {
    if (reason === "shutdown") this.stopping = true;
    const doomed = [...this.services.values()].filter((s) => s !== this.system && !keep.includes(s.handle));
    await Promise.all(doomed.reverse().map((s) => s.exit(reason)));
  }

  private allocate(): Handle {
    const local = Atomics.add(this.counters, this.slot, 1) + 1;
    if (local > LOCAL_MASK) throw new ServiceStartError(`worker ${this.slot} has used up its 16M handles`);
    return ((this.slot << SLOT_BITS) | local) >>> 0;
  }

  private load(name: string): Promise<StartFunction> {
    let loaded = this.modules.get(name);
    if (loaded === undefined) {
      loaded = this.importService(name);
      this.modules.set(name, loaded);
      loaded.catch(() => this.modules.delete(name));
    }
    return loaded;
  }

  private async importService(name: string): Promise<StartFunction> {
    const file = this.findModule(name);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      throw new ServiceStartError(`service "${name}" (${file}) could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    const exported = mod.default;
    if (isServiceModule(exported)) return exported.start;
    if (typeof exported === "function") return exported as StartFunction;
    throw new ServiceStartError(`${file} does not export a service: its default export must come from defineService()`);
  }

  private findModule(name: string): string {
    checkServiceName(name);
    const candidates = (dir: string) => [`${name}.js`, `${name}.mjs`, `${name}.cjs`, join(name, "index.js"), name].map((f) => resolve(dir, f));
    const tried = this.servicePath.flatMap(candidates);
    const found = tried.find((file) => /\.[cm]?js$/.test(file) && existsSync(file));
    if (found) return found;
    throw new ServiceStartError(`service "${name}" not found; searched servicePath: ${this.servicePath.join(", ") || "(empty)"}`);
  }
}
