/**
 * `svc`: everything a service can do, handed to its start function. Names follow skynet's API
 * (skynet.call is svc.call, skynet.newservice is svc.newService...).
 *
 * Methods that need "the message being handled" (response) must be called before the
 * handler's first await, as skynet.response must be called in the handling coroutine.
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { format } from "node:util";
import { sealArgs, sealValue } from "./codec.js";
import type { Address, CommandArgs, CommandName, CommandResult, Proxy } from "./define.js";
import { NoSuchServiceError, ServiceExitedError, UnknownProtocolError, UsageError, WeftError } from "./errors.js";
import { hostHandle, slotOf, type Handle } from "./handle.js";
import { complete, Ending, expectsAnswer } from "./completion.js";
import { Outbox } from "./outbox.js";
import { builtinProtocolNames, PROTO, type SystemRequest } from "./protocol.js";
import { reserve } from "./placement.js";
import { RequestSet } from "./request.js";
import type { LaunchRequest, Launched } from "./system.js";
import { checkSetenv } from "./env.js";
import type { ProtocolSpec, ServiceInstance } from "./service.js";
import type { LaunchOptions, Placement, Responder, ServiceStat, TimedCaller } from "./svc-types.js";

export type { ProtocolSpec };
export type { LaunchOptions, Placement, Responder, RestartPolicy, ServiceStat, TimedCaller } from "./svc-types.js";

const NOT_A_COMMAND = new Set<string | symbol>(["then", "catch", "finally", "toJSON", "constructor"]);

export class ServiceContext {
  /** This service's handle (skynet.self). */
  readonly self: Handle;
  /** The worker (1..thread) this service lives on; 0 is the main thread. */
  readonly worker: number;

  /** Sends and calls for this service: names, order, pending calls. */
  private readonly outbox: Outbox;

  constructor(private readonly service: ServiceInstance) {
    this.outbox = new Outbox(service);
    this.self = service.handle;
    this.worker = slotOf(service.handle);
  }

  /** The service's module name, as given to newService. */
  get name(): string {
    return this.service.name;
  }

  /** `:0000000a`. */
  get address(): string {
    return this.service.address;
  }

  /**
   * Who sent the message being handled (the `source` skynet passes to dispatch). Like
   * response(), read it before the handler's first await; outside a handler it is undefined.
   */
  get source(): Handle | undefined {
    return this.service.current?.source;
  }

  /**
   * Whether the message being handled is a call, whose sender waits for the answer (a send, or
   * a client-protocol message carrying a connection id, is not). Read it before the handler's
   * first await, like `source`; outside a handler it is false.
   */
  get isCall(): boolean {
    const current = this.service.current;
    return current !== undefined && expectsAnswer(current);
  }

  // ---- messages -----------------------------------------------------------------------------

  /** One-way message to a command (skynet.send with the "lua" protocol). Errors on the other side are logged there. */
  send<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): void {
    this.outbox.send(addr, PROTO.lua, cmd, sealArgs(args));
  }

  /**
   * `send`, giving away the bytes among `args` (skynet's DONTCOPY): a Uint8Array argument is
   * not copied, so the sender must not use it afterwards. A receiver on the same worker gets
   * this very buffer; across workers the bytes are copied into the ring as the message is sent.
   * An agent writing its client's packet back through the gate saves a copy per packet this
   * way. Other arguments are sealed as `send` seals them.
   */
  handOver<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): void {
    this.outbox.send(addr, PROTO.lua, cmd, sealArgs(args, true));
  }

  /** Request/response (skynet.call): resolves with the handler's return value, rejects with a typed error. */
  call<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): Promise<CommandResult<S, K>> {
    return this.callWithin(this.defaultTimeout(), addr, cmd, args) as Promise<CommandResult<S, K>>;
  }

  /**
   * A set of calls whose answers are taken as they arrive (skynet.request):
   * `reqs.add(addr, cmd, ...args)` sends each, `for await (const a of reqs.select(ms))` reads them.
   */
  request<T = unknown>(): RequestSet<T> {
    const timeout = this.defaultTimeout();
    return new RequestSet<T>((addr, cmd, args, signal) => this.callWithin(timeout, addr, cmd, args, signal));
  }

  /** Sends a payload as it is on any protocol (skynet.rawsend). */
  rawSend(addr: Handle | string, proto: string | number, payload: unknown): void {
    this.outbox.send(addr, this.protocolId(proto), "", sealValue(payload));
  }

  /** Calls on any protocol with a raw payload; resolves with the raw answer. */
  rawCall(addr: Handle | string, proto: string | number, payload: unknown): Promise<unknown> {
    return this.rawCallWithin(this.defaultTimeout(), addr, proto, payload);
  }

  /**
   * Sends as if from `source` (skynet.redirect): the answer, if any, goes to `source`. Bytes
   * (a Uint8Array payload) are handed over, not copied, as skynet hands over its message: the
   * receiver may get this very buffer, so do not change it afterwards. That saves a copy per
   * packet on the gate's path to its agents.
   *
   * On the client protocol `session` is a connection id riding on a one-way message, as
   * skynet's gate passes the fd: the handler gets it as its third argument, and the message is
   * never answered (an agent's reply lane to its gate: `redirect(gate, svc.self, "client",
   * bytes, fd)`). It must be a positive integer below 2^31.
   */
  redirect(addr: Handle | string, source: Handle, proto: string | number, payload: unknown, session = 0): void {
    const dest = this.outbox.resolveNow(addr);
    const id = this.protocolId(proto);
    if (id === PROTO.client && session !== 0) {
      if (!Number.isInteger(session) || session < 1 || session > 0x7fffffff) throw new UsageError(`a connection id on the client protocol must be an integer from 1 to 2^31-1, not ${session}`);
      session = -session;
    }
    this.service.host.post(dest, source, session, id, "", payload instanceof Uint8Array ? payload : sealValue(payload));
  }

  /** Sends with a registered protocol's `pack` (skynet.send with a custom type). */
  sendAs(proto: string, addr: Handle | string, ...args: unknown[]): void {
    const spec = this.spec(proto);
    this.rawSend(addr, spec.id, spec.pack ? spec.pack(...args) : args[0]);
  }

  /** Calls with a registered protocol's `pack`, and `unpack`s the answer. */
  async callAs(proto: string, addr: Handle | string, ...args: unknown[]): Promise<unknown> {
    const spec = this.spec(proto);
    const answer = await this.rawCall(addr, spec.id, spec.pack ? spec.pack(...args) : args[0]);
    return spec.unpack ? spec.unpack(answer) : answer;
  }

  /**
   * Takes over the answer to the call being handled (skynet.response): the handler's return
   * value is then ignored. Call it before the handler's first await.
   */
  response(): Responder {
    const service = this.service;
    const envelope = service.current;
    if (envelope === undefined) throw new WeftError("WEFT_NOT_RUNNING", "svc.response() must be called while handling a message, before the first await");
    const answer = (ok: boolean, value: unknown): boolean => !envelope.answered && complete(service, envelope, ok ? Ending.Returned : Ending.Threw, value);
    if (!expectsAnswer(envelope)) {
      const none = (() => false) as Responder;
      none.error = () => false;
      return none;
    }
    envelope.deferred = true;
    service.inflight.add(envelope);
    const respond = ((value?: unknown) => answer(true, value)) as Responder;
    respond.error = (err: unknown) => answer(false, err);
    return respond;
  }

  /**
   * Sets the handler of a protocol: `handler(message, source, session)`; for a call its return
   * value is the answer. For "lua" it is the fallback for commands the table does not have,
   * called as `handler(cmd, args, source, session)`.
   */
  dispatch(proto: string | number, handler: (message: any, source: Handle, session: number) => unknown): void;
  dispatch(proto: "lua" | "command", handler: (cmd: string, args: unknown[], source: Handle, session: number) => unknown): void;
  dispatch(proto: string | number, handler: (...args: any[]) => unknown): void {
    this.service.protocols.set(this.protocolId(proto), handler);
  }

  /**
   * Registers a protocol (skynet.register_protocol): `id` 0..254 (skynet's ids for the built-in
   * ones, such as client = 3), `unpack` turns a raw payload into the message `dispatch` gets,
   * `pack` builds payloads for sendAs/callAs.
   */
  registerProtocol(spec: ProtocolSpec): void {
    if (!Number.isInteger(spec.id) || spec.id < 0 || spec.id > 254) throw new WeftError("WEFT_CONFIG", `protocol id ${spec.id} must be an integer from 0 to 254`);
    const service = this.service;
    service.specs.set(spec.name, spec);
    const { unpack, dispatch } = spec;
    if (dispatch) service.protocols.set(spec.id, unpack ? (payload, source, session) => dispatch(unpack(payload), source, session) : dispatch);
  }

  // ---- services -----------------------------------------------------------------------------

  /**
   * Starts a service on the least-loaded worker; resolves with its address once its start
   * function finished. The request goes straight to that worker (placed by the load counts every
   * thread shares); the launcher on the main thread is told after, not asked.
   */
  newService<S = any>(name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.launch(name, args, undefined);
  }

  /** Starts a service on the caller's worker ("same") or on a given worker. */
  newServiceOn<S = any>(where: Placement, name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.launch(name, args, where === "same" ? this.worker : where);
  }

  /**
   * newService with options: a restart policy, a placement, uniqueness.
   *
   * @example
   * const gate = await svc.newServiceWith({ restart: "permanent" }, "gate");
   */
  newServiceWith<S = any>(options: LaunchOptions, name: string, ...args: unknown[]): Promise<Address<S>> {
    const worker = options.worker === "same" ? this.worker : options.worker;
    // Unsupervised and not unique: nothing for the launcher to decide, so it is told after.
    if (!options.unique && (options.restart === undefined || options.restart === "temporary")) return this.launch(name, args, worker);
    // Supervised or unique: the launcher records the policy before anyone can see the service.
    const launch = { worker, from: this.self, restart: options.restart };
    return this.call(".launcher", options.unique ? "unique" : "launch", name, args, launch) as Promise<Address<S>>;
  }

  /** One instance per runtime: the first caller starts it, everyone gets the same address. */
  uniqueService<S = any>(name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.call(".launcher", "unique", name, args) as Promise<Address<S>>;
  }

  /** The address of a unique service; waits until it has been started. */
  queryService<S = any>(name: string): Promise<Address<S>> {
    return this.call(".launcher", "query", name) as Promise<Address<S>>;
  }

  /** Gives this service a name: `.name` is local to this node, a name without the dot is global. */
  async register(name: string): Promise<void> {
    await this.system(0, { op: "register", name, handle: this.self });
    this.service.names.add(name);
    this.service.host.names.set(name, this.self);
  }

  /** The address registered under `name`, or undefined. */
  async queryName(name: string): Promise<Handle | undefined> {
    return this.service.host.names.get(name) ?? ((await this.system(0, { op: "queryName", name })) as Handle | undefined);
  }

  /** Ends this service. Calls waiting on it fail, its own calls fail, its exit hooks run. */
  exit(): Promise<void> {
    return this.service.exit("exit");
  }

  /** Ends another service. Resolves true if it was alive. */
  async kill(addr: Handle | string): Promise<boolean> {
    try {
      const handle = await this.outbox.resolve(addr);
      // Through the kernel: it can end a worker stuck in a handler, which could not end its service.
      return (await this.system(0, { op: "kill", handle })) === true;
    } catch (err) {
      if (err instanceof NoSuchServiceError) return false;
      throw err;
    }
  }

  /** How many times supervision has started this service again (0: its first instance). */
  get restarts(): number {
    return this.service.restart.restarts;
  }

  /**
   * Keeps a value for this service's next instance, should supervision restart it (`undefined`
   * forgets the key). The launcher keeps it, on the main thread, where a lost worker cannot
   * take it. For what a restart needs to carry on (a gate's last `open`, a watchdog's agents),
   * not for bulk state: one message per call.
   */
  remember(key: string, value: unknown): void {
    this.send(".launcher", "remember", key, value);
  }

  /** What the previous instance remembered (after a restart); `{}` on a first start. */
  remembered(): Record<string, unknown> {
    return this.service.restart.memo;
  }

  /**
   * Tells `onChange(true)` once the load of `addr` (messages in its mailbox plus its handlers
   * still running) reaches `mark`, and `onChange(false)` once it is back to half of that or
   * below, or when it exits. A gate uses it to stop reading a client whose agent is behind.
   * Watching the same service again replaces the callback; the function returned unwatches.
   */
  watchMailbox(addr: Handle, mark: number, onChange: (full: boolean) => void): () => void {
    const watches = this.service.loadWatches;
    watches.set(addr, onChange);
    void this.system(slotOf(addr), { op: "watch", target: addr, watcher: this.self, mark }).catch(() => undefined);
    return () => {
      if (watches.get(addr) !== onChange) return;
      watches.delete(addr);
      void this.system(slotOf(addr), { op: "unwatch", target: addr, watcher: this.self }).catch(() => undefined);
    };
  }

  /**
   * Calls `onChange(true)` when this thread has more bytes waiting for room in its rings than
   * the other threads take (defaults.linkBacklogHigh), and `onChange(false)` once that drained
   * (to linkBacklogLow). Reads from outside (a gate's sockets) should stop meanwhile: nothing
   * else bounds them. Called synchronously, from the transport; returns the function that stops it.
   */
  watchBackedUp(onChange: (backedUp: boolean) => void): () => void {
    const listeners = this.service.host.backedUpListeners;
    listeners.add(onChange);
    const stop = () => void listeners.delete(onChange);
    this.onExit(stop);
    return stop;
  }

  /** Whether this thread is backed up now (see watchBackedUp). */
  get backedUp(): boolean {
    return this.service.host.rings.backedUp;
  }

  /**
   * Calls `onDown(reason)` once when `addr` exits or is lost with its worker (Erlang's monitor),
   * at once if it is not running. The function returned stops monitoring.
   */
  monitor(addr: Handle, onDown: (reason: string) => void): () => void {
    const monitors = this.service.monitors;
    monitors.set(addr, onDown);
    this.send(".launcher", "monitor", addr);
    return () => {
      if (monitors.get(addr) !== onDown) return;
      monitors.delete(addr);
      this.send(".launcher", "demonitor", addr);
    };
  }

  /** What the console's `info` command shows for this service (skynet.info_func). */
  setInfo(fn: (...args: unknown[]) => unknown): void {
    this.service.info = fn;
  }

  /** Runs when the service exits (exit, kill, shutdown), before its callers are failed. */
  onExit(hook: () => unknown): void {
    this.service.exitHooks.push(hook);
  }

  /** A typed stub: `const db = svc.proxy<typeof Db>(addr); await db.get("k")`. */
  proxy<S>(addr: Address<S> | string, options: { timeout?: number } = {}): Proxy<S> {
    const timeout = options.timeout ?? this.defaultTimeout();
    return new globalThis.Proxy({} as Proxy<S>, {
      get: (_target, cmd) => {
        if (typeof cmd !== "string" || NOT_A_COMMAND.has(cmd)) return undefined;
        return (...args: unknown[]) => this.callWithin(timeout, addr, cmd, args);
      },
    });
  }

  /** Calls that fail with CallTimeoutError after `ms` (calls have no timeout by default, as in skynet). */
  withTimeout(ms: number): TimedCaller {
    return {
      call: ((addr: Handle | string, cmd: string, ...args: unknown[]) => this.callWithin(ms, addr, cmd, args)) as TimedCaller["call"],
      rawCall: (addr, proto, payload) => this.rawCallWithin(ms, addr, proto, payload),
      proxy: (addr) => this.proxy(addr, { timeout: ms }),
    };
  }

  /**
   * Runs a stateless, CPU-heavy job on the offload pool (a second piscina pool), so this
   * worker's services keep answering meanwhile. `module` is an absolute path or file URL of a
   * module whose default export (or export `name`) takes `input` and returns the result.
   *
   * @example
   * const hash = await svc.offload<string>(new URL("./hash-job.js", import.meta.url), password);
   */
  offload<T = unknown>(module: string | URL, input: unknown, options: { name?: string } = {}): Promise<T> {
    const filename = module instanceof URL ? module.href : module.startsWith("file:") ? module : pathToFileURL(module).href;
    return this.system(0, { op: "offload", filename, name: options.name, input }) as Promise<T>;
  }

  // ---- time and tasks -----------------------------------------------------------------------

  /** Runs `fn` after `ms`, in turn with the service's messages. Returns a function that cancels it. */
  timeout(ms: number, fn: () => unknown): () => void {
    const service = this.service;
    const timer = setTimeout(() => {
      service.timers.delete(timer);
      service.queueLocal(fn, "timeout");
    }, ms);
    service.timers.add(timer);
    return () => {
      clearTimeout(timer);
      service.timers.delete(timer);
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timeout(ms, resolve));
  }

  /** Lets the messages already waiting in the mailbox run first. */
  yield(): Promise<void> {
    return new Promise((resolve) => this.service.queueLocal(resolve, "yield"));
  }

  /** Runs `fn(...args)` as a new task right after the current handler, before the next message (skynet.fork). Errors are logged. */
  fork<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    const service = this.service;
    service.forks++;
    service.queueLocal(
      () => {
        service.forks--;
        return fn(...args);
      },
      "fork",
      "next",
    );
  }

  /** Suspends until `wakeup(token)`. */
  wait(token: unknown): Promise<void> {
    return new Promise((resolve) => this.service.waits.set(token, resolve));
  }

  /** Resumes the task waiting on `token` right after the current handler. Returns false if none waits. */
  wakeup(token: unknown): boolean {
    const resume = this.service.waits.get(token);
    if (resume === undefined) return false;
    this.service.waits.delete(token);
    this.service.queueLocal(resume, "wakeup", "next");
    return true;
  }

  /** Milliseconds since the runtime started (skynet.now, which counts 1/100 s). */
  now(): number {
    return performance.timeOrigin + performance.now() - this.service.host.startTime;
  }

  /** When the runtime started, in ms since the epoch. */
  startTime(): number {
    return this.service.host.startTime;
  }

  // ---- environment and diagnostics ------------------------------------------------------------

  /** A line for the logger, prefixed with this service's address (skynet.error). */
  log(...args: unknown[]): void {
    this.service.host.log(this.self, format(...args));
  }

  /** A config key or a value set with setenv. */
  getenv<T = unknown>(key: string): T | undefined {
    return this.service.host.env[key] as T | undefined;
  }

  /**
   * Sets a value every service can getenv; resolves once every worker has it. The runtime's own
   * settings (callTimeout, thread, ...) and `__proto__`/`constructor`/`prototype` are refused
   * with ConfigError: they are read once at start.
   */
  async setenv(key: string, value: unknown): Promise<void> {
    checkSetenv(key);
    await this.system(0, { op: "setenv", key, value });
  }

  stat(): ServiceStat {
    const s = this.service;
    return {
      address: s.address,
      name: s.name,
      mailbox: s.mailbox.length,
      messages: s.mailbox.messages,
      cpu: s.mailbox.cpu,
      calls: s.calls.size,
      inflight: s.inflight.size,
      timers: s.timers.size,
      forks: s.forks,
      waits: s.waits.size,
    };
  }

  /** The calls this service is waiting on: for the console's `task`. */
  pendingCalls(): { session: number; dest: string; cmd: string }[] {
    return this.service.calls.list();
  }

  // ---- internals ----------------------------------------------------------------------------

  private defaultTimeout(): number {
    return this.service.host.callTimeout;
  }

  /**
   * A launch placed here and sent to the target worker's system endpoint, which starts the
   * service, tells the launcher (a one-way notice) and answers (see runtime/placement, system).
   */
  private launch<S>(name: string, args: unknown[], worker: number | undefined): Promise<Address<S>> {
    const host = this.service.host;
    let slot: number;
    let body: unknown;
    // A service that has exited sends nothing: its launch must not be counted anywhere.
    if (this.service.exited) return Promise.reject(new ServiceExitedError(`${this.address} has exited and cannot start "${name}"`));
    try {
      const request: LaunchRequest = { op: "launch", name, args, from: this.self, tell: true };
      body = sealValue(request);
      // Counted on the target from here; from here on only that host takes the count back.
      slot = reserve(host.loads, host.threads, worker);
    } catch (err) {
      return Promise.reject(err);
    }
    const answer = this.outbox.call(hostHandle(slot), PROTO.system, "", body, this.defaultTimeout()) as Promise<Launched>;
    return answer.then((launched) => launched.handle as Address<S>);
  }

  private system(slot: number, request: SystemRequest): Promise<unknown> {
    return this.rawCallWithin(0, hostHandle(slot), PROTO.system, request);
  }

  private callWithin(timeoutMs: number, addr: Handle | string, cmd: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    let body: unknown;
    try {
      body = sealArgs(args);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.outbox.call(addr, PROTO.lua, cmd, body, timeoutMs, signal);
  }

  private rawCallWithin(timeoutMs: number, addr: Handle | string, proto: string | number, payload: unknown): Promise<unknown> {
    let id: number;
    let body: unknown;
    try {
      id = this.protocolId(proto);
      body = sealValue(payload);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.outbox.call(addr, id, "", body, timeoutMs);
  }

  private protocolId(proto: string | number): number {
    if (typeof proto === "number") return proto;
    const id = builtinProtocolNames[proto] ?? this.service.specs.get(proto)?.id;
    if (id === undefined) throw new UnknownProtocolError(`${this.address} has no protocol named "${proto}"`);
    return id;
  }

  private spec(proto: string): ProtocolSpec {
    const spec = this.service.specs.get(proto);
    if (!spec) throw new UnknownProtocolError(`${this.address} has not registered protocol "${proto}"`);
    return spec;
  }
}

/** The public face of a service's context. */
export type Service = ServiceContext;
