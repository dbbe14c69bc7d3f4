/**
 * One running service: its mailbox, its command table and protocol handlers, the calls it is
 * waiting on, and the work it has queued for itself. The host owns the table of instances and
 * routes messages; this file is what happens inside one actor.
 */
import { errorToWire, open, sealValue } from "./codec.js";
import { defaults } from "./defaults.js";
import { ServiceExitedError, UnknownCommandError, UnknownProtocolError, type WeftError } from "./errors.js";
import { Fifo } from "./fifo.js";
import { LoadWatchers } from "./loadwatch.js";
import { formatHandle, hostHandle, slotOf, type Handle } from "./handle.js";
import { protocolLabel, PROTO, type Envelope } from "./protocol.js";
import type { ServiceContext } from "./context.js";
import type { Command } from "./define.js";
import type { Host } from "./host.js";

export type ProtocolHandler = (payload: unknown, source: Handle, session: number) => unknown;

export interface ProtocolSpec {
  name: string;
  id: number;
  pack?: (...args: any[]) => unknown;
  unpack?: (payload: unknown) => unknown;
  dispatch?: (...args: any[]) => unknown;
}

export interface PendingCall {
  resolve(value: unknown): void;
  reject(err: Error): void;
  dest: Handle;
  cmd: string;
  timer?: NodeJS.Timeout;
}

/** A supervised restart: the how-manieth, and what the last instance remembered (svc.remember). */
export interface Restart {
  restarts: number;
  memo: Record<string, unknown>;
}

const enum Status {
  Starting,
  Running,
  Exiting,
  Exited,
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && typeof value === "object" && typeof (value as PromiseLike<unknown>).then === "function";

export class ServiceInstance {
  readonly mailbox = new Fifo<Envelope>();
  /** Forks and wakeups: they run after the current handler, before the next message. */
  private readonly followUps = new Fifo<() => unknown>();
  /** Set when follow-ups ran: the scheduler lets microtasks (what they resumed) run first. */
  resumed = false;
  /** In the scheduler's run queue. */
  queued = false;
  status = Status.Starting;
  readonly commands = new Map<string, Command>();
  commandThis: unknown = undefined;
  readonly protocols = new Map<number, ProtocolHandler>();
  readonly specs = new Map<string, ProtocolSpec>();
  readonly pending = new Map<number, PendingCall>();
  private nextSession = 1;
  /** Calls this service accepted and has not answered yet (async handlers, deferred responses). */
  readonly inflight = new Set<Envelope>();
  readonly timers = new Set<NodeJS.Timeout>();
  readonly waits = new Map<unknown, () => void>();
  forks = 0;
  messages = 0;
  cpu = 0;
  overloadAt: number = defaults.overload;
  /** The mailbox passed overloadAt: the scheduler looks again when the thread's turn ends. */
  overloadWatched = false;
  readonly names = new Set<string>();
  readonly exitHooks: (() => unknown)[] = [];
  /** What the console's `info` shows (svc.info). */
  info?: (...args: unknown[]) => unknown;
  /** Console `logon`: every message this service handles is logged. */
  traced = false;
  ctx!: ServiceContext;
  /** Handlers that returned a promise not settled yet (sends and calls): part of the load. */
  busy = 0;
  /** Who watches this service's load, by watcher; undefined (the usual case) costs one check per message. */
  private watchers: LoadWatchers | undefined = undefined;
  /** The loads this service watches, by target (svc.watchMailbox). */
  readonly loadWatches = new Map<Handle, (full: boolean) => void>();
  /** The services this one monitors, by target (svc.monitor). */
  readonly monitors = new Map<Handle, (reason: string) => void>();
  readonly restart: Restart;

  constructor(
    readonly host: Host,
    readonly handle: Handle,
    readonly name: string,
    readonly args: unknown[],
    restart: Restart = { restarts: 0, memo: {} },
  ) {
    this.restart = restart;
  }

  get address(): string {
    return formatHandle(this.handle);
  }

  get running(): boolean {
    return this.status === Status.Running;
  }

  get alive(): boolean {
    return this.status < Status.Exiting;
  }

  /** Gone for good: exit hooks (which may still call others) have finished. */
  get exited(): boolean {
    return this.status === Status.Exited;
  }

  /** The start function finished: messages that waited in the mailbox may now be handled. */
  started(commands: unknown): void {
    if (commands && typeof commands === "object") {
      this.commandThis = commands;
      for (const [key, value] of Object.entries(commands)) if (typeof value === "function") this.commands.set(key, value as Command);
      // Class instances keep their methods on the prototype.
      for (let proto = Object.getPrototypeOf(commands); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
        for (const key of Object.getOwnPropertyNames(proto)) {
          const value = (commands as Record<string, unknown>)[key];
          if (key !== "constructor" && typeof value === "function" && !this.commands.has(key)) this.commands.set(key, value as Command);
        }
      }
    }
    this.status = Status.Running;
    if (this.mailbox.length > 0) this.host.scheduler.ready(this);
  }

  enqueue(envelope: Envelope): void {
    if (this.status > Status.Running) {
      this.refuse(envelope);
      return;
    }
    const mailbox = this.mailbox;
    mailbox.push(envelope);
    if (mailbox.length >= this.overloadAt) this.host.scheduler.watchOverload(this);
    this.watchers?.check(mailbox.length + this.busy);
    if (this.status === Status.Running) this.host.scheduler.ready(this);
  }

  /**
   * "May overload" when the mailbox is still at its mark as the thread's turn ends (skynet's
   * monitor checks at once; weft runs a turn's messages in one go, so a burst its services
   * absorb within the turn is no sign of overload). The next mark is the doubling past the
   * length seen, so a huge burst gives one line, not one per doubling.
   */
  checkOverload(): void {
    this.overloadWatched = false;
    const length = this.mailbox.length;
    if (length < this.overloadAt || this.status > Status.Running) return;
    this.host.log(this.handle, `May overload, mailbox length ${length}`);
    while (this.overloadAt <= length) this.overloadAt *= 2;
  }

  /** Something to run: mail, or forks and wakeups queued by the last handler. */
  get hasWork(): boolean {
    return this.mailbox.length > 0 || this.followUps.length > 0;
  }

  /** Handles up to `limit` messages; returns how many. */
  run(limit: number): number {
    const mailbox = this.mailbox;
    let n = 0;
    this.runFollowUps();
    while (n < limit && this.status === Status.Running) {
      const envelope = mailbox.shift();
      if (envelope === undefined) break;
      n++;
      this.messages++;
      this.dispatch(envelope);
      // Forks and wakeups run right after the handler that queued them, as in skynet; then the
      // batch ends, so what they resumed (a promise continuation) runs before the next message.
      if (this.followUps.length > 0) {
        this.runFollowUps();
        this.resumed = true;
        break;
      }
    }
    if (mailbox.length === 0) this.overloadAt = defaults.overload;
    this.watchers?.check(mailbox.length + this.busy);
    return n;
  }

  // ---- load watching (svc.watchMailbox): a gate stops reading a client whose agent is behind --

  /** The target's side: `watcher` hears when this service's load crosses `mark` (see loadwatch). */
  watchLoad(watcher: Handle, mark: number): void {
    if (!this.alive) this.tellLoad(watcher, false, true);
    else (this.watchers ??= new LoadWatchers((w, full, gone) => this.tellLoad(w, full, gone))).add(watcher, mark, this.mailbox.length + this.busy);
  }

  /** How many services watch this one's load now (the debug protocol's `task`). */
  get loadWatchers(): number {
    return this.watchers?.size ?? 0;
  }

  unwatchLoad(watcher: Handle): void {
    this.watchers?.delete(watcher);
    if (this.watchers?.size === 0) this.watchers = undefined;
  }

  private tellLoad(watcher: Handle, full: boolean, gone: boolean): void {
    this.host.post(hostHandle(slotOf(watcher)), this.host.system.handle, 0, PROTO.system, "", { op: "load", watcher, target: this.handle, full, gone });
  }

  /** The watcher's side: the callback runs in this service's turn, right after the current handler. */
  loadChanged(target: Handle, full: boolean, gone: boolean): void {
    const onChange = this.loadWatches.get(target);
    if (onChange === undefined) return;
    if (gone) this.loadWatches.delete(target);
    this.queueLocal(() => onChange(full), "load", "next");
  }

  /** Targets on a lost worker: their watches end as "not full". */
  forgetLoadOf(slot: number): void {
    for (const target of this.loadWatches.keys()) if (slotOf(target) === slot) this.loadChanged(target, false, true);
  }

  /** A monitored service exited or was lost (svc.monitor). */
  targetDown(target: Handle, reason: string): void {
    const onDown = this.monitors.get(target);
    if (onDown === undefined) return;
    this.monitors.delete(target);
    this.queueLocal(() => onDown(reason), "down", "next");
  }

  private runFollowUps(): void {
    for (let callback = this.followUps.shift(); callback !== undefined; callback = this.followUps.shift()) {
      if (this.status !== Status.Running) return;
      this.runLocal(callback);
    }
  }

  nextCallSession(): number {
    const session = this.nextSession;
    this.nextSession = session === 0x7fffffff ? 1 : session + 1;
    return session;
  }

  private dispatch(envelope: Envelope): void {
    const host = this.host;
    host.stamp?.begin(envelope.source, this.handle, envelope.cmd);
    if (envelope.proto === PROTO.local) {
      this.runLocal(envelope.body as () => unknown);
      return;
    }
    if (this.traced) this.trace(envelope);
    let result: unknown;
    host.current = envelope;
    host.deferred = false;
    try {
      result = this.runHandler(envelope);
    } catch (err) {
      if (err instanceof Refusal) this.reject(envelope, err.error);
      // After response() the call is answered by the responder, unless it is still open.
      else if (host.deferred) this.answer(envelope, false, err);
      else this.fail(envelope, err);
      return;
    } finally {
      host.current = undefined;
    }
    if (isThenable(result)) {
      this.busy++;
      // After response() the responder answers; a rejection still answers the call if it is open.
      if (host.deferred) {
        result.then(
          () => this.settled(),
          (err) => this.answer(envelope, false, err),
        );
        return;
      }
      if (envelope.session !== 0) this.inflight.add(envelope);
      result.then(
        (value) => this.answer(envelope, true, value),
        (err) => this.answer(envelope, false, err),
      );
    } else if (envelope.session !== 0 && !host.deferred) {
      this.reply(envelope, true, result);
    }
  }

  /** Runs the handler a message is for; throws a Refusal when there is none. */
  private runHandler(envelope: Envelope): unknown {
    const args = open(envelope.body);
    if (envelope.proto !== PROTO.lua) {
      const handler = this.protocols.get(envelope.proto);
      if (handler === undefined) throw new Refusal(new UnknownProtocolError(`${this.address} (${this.name}) has no dispatch for protocol ${envelope.proto}`));
      return handler(args, envelope.source, envelope.session);
    }
    const command = this.commands.get(envelope.cmd);
    if (command !== undefined) return command.apply(this.commandThis, args as unknown[]);
    // svc.dispatch("lua", fn) catches the commands the table does not have.
    const fallback = this.protocols.get(PROTO.lua) as unknown as ((cmd: string, args: unknown[], source: Handle, session: number) => unknown) | undefined;
    if (fallback === undefined) throw new Refusal(new UnknownCommandError(`${this.address} (${this.name}) has no command "${envelope.cmd}"`));
    return fallback(envelope.cmd, args as unknown[], envelope.source, envelope.session);
  }

  /** Runs a callback the service queued for itself; its errors are logged, as skynet logs a failed coroutine. */
  runLocal(callback: () => unknown): void {
    try {
      const result = callback();
      if (isThenable(result)) result.then(undefined, (err) => this.logError("task", err));
    } catch (err) {
      this.logError("task", err);
    }
  }

  /**
   * A handler settled later (async, or after response()): answer its call if it is still open;
   * an error no caller will see is logged.
   */
  private answer(envelope: Envelope, ok: boolean, value: unknown): void {
    this.settled();
    if (envelope.session === 0) {
      if (!ok) this.fail(envelope, value);
    } else if (this.inflight.delete(envelope)) {
      this.reply(envelope, ok, value);
    } else if (!ok && this.alive) {
      this.logError(`"${envelope.cmd}" after its call was answered`, value);
    }
  }

  /** An async handler settled: one less in the load. */
  private settled(): void {
    this.busy--;
    this.watchers?.check(this.mailbox.length + this.busy);
  }

  /** A handler threw: a call gets the error, a send's error is logged. */
  private fail(envelope: Envelope, err: unknown): void {
    if (envelope.session !== 0) this.reply(envelope, false, err);
    else if (this.alive) this.logError(envelope.cmd ? `"${envelope.cmd}"` : protocolLabel(envelope.proto), err);
  }

  /** Answers a call: the result, or the error the handler threw (`byRuntime`: weft's own refusal). */
  reply(envelope: Envelope, ok: boolean, value: unknown, byRuntime = false): void {
    let body: unknown;
    if (ok) {
      try {
        body = sealValue(value);
      } catch (err) {
        ok = false;
        value = err;
      }
    }
    if (!ok) body = errorToWire(value, byRuntime);
    this.host.post(envelope.source, this.handle, envelope.session, ok ? PROTO.response : PROTO.error, "", body);
  }

  /** Answers a message that can no longer be handled: calls get an error, sends are dropped. */
  refuse(envelope: Envelope): void {
    this.reject(envelope, new ServiceExitedError(`${this.address} (${this.name}) exited before answering "${envelope.cmd}"`));
  }

  /** weft's own refusal of a message: the caller gets the error as it is; a send is logged. */
  private reject(envelope: Envelope, err: WeftError): void {
    if (envelope.proto === PROTO.local) return;
    if (envelope.session === 0) {
      if (this.alive) this.host.log(this.handle, `dropped a message from ${formatHandle(envelope.source)}: ${err.message}`);
      return;
    }
    this.reply(envelope, false, err, true);
  }

  private trace(envelope: Envelope): void {
    const what = `${envelope.proto === PROTO.lua ? `"${envelope.cmd}"` : protocolLabel(envelope.proto)} ${describeBody(open(envelope.body))}`;
    this.host.log(this.handle, `${envelope.session === 0 ? "send" : `call #${envelope.session}`} from ${formatHandle(envelope.source)}: ${what}`);
  }

  logError(what: string, err: unknown): void {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.host.log(this.handle, `error in ${what}: ${text}`);
  }

  /**
   * Queues a callback of the service's own. "behind" (timers, yield) waits behind the messages
   * already in the mailbox, as skynet's timer messages do; "next" (fork, wakeup) runs right
   * after the current handler, as skynet's fork and wakeup queues do.
   */
  queueLocal(callback: () => unknown, label: string, when: "behind" | "next" = "behind"): void {
    // While the start function or the exit hooks run the mailbox is held; their own timers and
    // wakeups must still run.
    if (this.status === Status.Starting || this.status === Status.Exiting) {
      queueMicrotask(() => this.runLocal(callback));
      return;
    }
    if (this.status !== Status.Running) return;
    if (when === "next") {
      this.followUps.push(callback);
      this.host.scheduler.ready(this);
      return;
    }
    this.enqueue({ source: this.handle, session: 0, proto: PROTO.local, cmd: label, body: callback });
  }

  /**
   * Ends the service: exit hooks run, callers waiting on it and calls it was making fail,
   * queued calls are refused, timers stop, names are released.
   */
  async exit(reason: string): Promise<void> {
    if (this.status >= Status.Exiting) return;
    this.status = Status.Exiting;
    for (const hook of this.exitHooks.splice(0)) {
      try {
        await hook();
      } catch (err) {
        this.logError("exit hook", err);
      }
    }
    this.status = Status.Exited;
    this.watchers?.end();
    this.watchers = undefined;
    // The targets would keep telling a watcher that is gone: they forget it.
    for (const target of this.loadWatches.keys()) {
      this.host.post(hostHandle(slotOf(target)), this.host.system.handle, 0, PROTO.system, "", { op: "unwatch", target, watcher: this.handle });
    }
    this.loadWatches.clear();
    this.monitors.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.waits.clear();
    const gone = new ServiceExitedError(`${this.address} (${this.name}) exited (${reason})`);
    for (const envelope of this.mailbox.drain()) this.refuse(envelope);
    for (const envelope of this.inflight) this.refuse(envelope);
    this.inflight.clear();
    for (const [, call] of this.pending) {
      if (call.timer) clearTimeout(call.timer);
      call.reject(new ServiceExitedError(`${this.address} exited while calling ${formatHandle(call.dest)} "${call.cmd}"`, { cause: gone }));
    }
    this.pending.clear();
    await this.host.forget(this, reason);
  }
}

/** A short, printable form of a message body for `logon` traces. */
function describeBody(body: unknown): string {
  if (body instanceof Uint8Array) return `<${body.length} bytes>`;
  try {
    const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
    return text === undefined ? String(body) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return String(body);
  }
}

/** weft's own refusal of a message (no such command or protocol), as opposed to a handler's error. */
class Refusal {
  constructor(readonly error: WeftError) {}
}
