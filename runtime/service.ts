/**
 * One running service: its command table and protocol handlers, its life cycle, and what
 * happens inside one actor when a message is handled. The mailbox (mailbox.ts) is what the
 * scheduler sees of it; the calls it waits on are in its CallTable; what a message gets once
 * handled is decided in completion.ts. The host owns the table of instances and routes.
 */
import { errorToWire, open, sealValue } from "./codec.js";
import { CallTable } from "./calltable.js";
import { complete, Ending, expectsAnswer } from "./completion.js";
import { ServiceExitedError, UnknownCommandError, UnknownProtocolError, type WeftError } from "./errors.js";
import { LoadWatchers } from "./loadwatch.js";
import { formatHandle, hostHandle, slotOf, type Handle } from "./handle.js";
import { Mailbox, type MailboxOwner } from "./mailbox.js";
import { envelope, protocolLabel, PROTO, type Envelope } from "./protocol.js";
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

export class ServiceInstance implements MailboxOwner {
  readonly mailbox: Mailbox = new Mailbox(this);
  readonly calls = new CallTable();
  private status = Status.Starting;
  readonly commands = new Map<string, Command>();
  private commandThis: unknown = undefined;
  readonly protocols = new Map<number, ProtocolHandler>();
  readonly specs = new Map<string, ProtocolSpec>();
  /** Calls this service accepted and has not answered yet (async handlers, deferred responses). */
  readonly inflight = new Set<Envelope>();
  /** The message whose handler is running now, until its first await (svc.response, svc.source). */
  current: Envelope | undefined = undefined;
  readonly timers = new Set<NodeJS.Timeout>();
  readonly waits = new Map<unknown, () => void>();
  forks = 0;
  readonly names = new Set<string>();
  readonly exitHooks: (() => unknown)[] = [];
  /** What the console's `info` shows (svc.info). */
  info?: (...args: unknown[]) => unknown;
  /** Console `logon`: every message this service handles is logged. */
  traced = false;
  ctx!: ServiceContext;
  /** Handlers that returned a promise not settled yet (sends and calls): part of the load. */
  private busy = 0;
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
    if (this.mailbox.length > 0) this.host.scheduler.ready(this.mailbox);
  }

  enqueue(envelope: Envelope): void {
    if (this.status > Status.Running) {
      this.refuse(envelope);
      return;
    }
    const mailbox = this.mailbox;
    if (mailbox.push(envelope)) this.host.scheduler.watchOverload(mailbox);
    this.watchers?.check(mailbox.length + this.busy);
    if (this.status === Status.Running) this.host.scheduler.ready(mailbox);
  }

  /** MailboxOwner: the mailbox stayed past its mark through a turn. */
  overloaded(length: number): void {
    this.host.log(this.handle, `May overload, mailbox length ${length}`);
  }

  /** MailboxOwner: a run ended with `length` messages left. */
  ran(length: number): void {
    this.watchers?.check(length + this.busy);
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

  // ---- dispatch --------------------------------------------------------------------------------

  /** MailboxOwner: handles one message; completion.ts decides what its sender gets. */
  dispatch(envelope: Envelope): void {
    this.host.stamp?.begin(envelope.source, this.handle, envelope.cmd);
    if (envelope.proto === PROTO.local) {
      this.runLocal(envelope.body as () => unknown);
      return;
    }
    if (this.traced) this.trace(envelope);
    let result: unknown;
    let refused: WeftError | undefined;
    this.current = envelope;
    try {
      const args = open(envelope.body);
      const session = envelope.session < 0 ? -envelope.session : envelope.session;
      if (envelope.proto === PROTO.lua) {
        const command = this.commands.get(envelope.cmd);
        if (command !== undefined) result = command.apply(this.commandThis, args as unknown[]);
        else {
          // svc.dispatch("lua", fn) catches the commands the table does not have.
          const fallback = this.protocols.get(PROTO.lua) as unknown as ((cmd: string, args: unknown[], source: Handle, session: number) => unknown) | undefined;
          if (fallback !== undefined) result = fallback(envelope.cmd, args as unknown[], envelope.source, session);
          else refused = new UnknownCommandError(`${this.address} (${this.name}) has no command "${envelope.cmd}"`);
        }
      } else {
        const handler = this.protocols.get(envelope.proto);
        if (handler !== undefined) result = handler(args, envelope.source, session);
        else refused = new UnknownProtocolError(`${this.address} (${this.name}) has no dispatch for protocol ${envelope.proto}`);
      }
    } catch (err) {
      complete(this, envelope, Ending.Threw, err);
      return;
    } finally {
      this.current = undefined;
    }
    if (refused !== undefined) complete(this, envelope, Ending.Refused, refused);
    else if (isThenable(result)) this.awaitHandler(envelope, result);
    else if (!envelope.deferred) complete(this, envelope, Ending.Returned, result);
  }

  /** An async handler: its call stays open (and counts in the load) until the promise settles. */
  private awaitHandler(envelope: Envelope, result: PromiseLike<unknown>): void {
    this.busy++;
    // After response() the responder answers; a rejection still answers the call if it is open.
    const deferred = envelope.deferred;
    if (!deferred && expectsAnswer(envelope)) this.inflight.add(envelope);
    result.then(
      (value) => {
        this.settled();
        if (!deferred) complete(this, envelope, Ending.Returned, value);
      },
      (err) => {
        this.settled();
        complete(this, envelope, Ending.Threw, err);
      },
    );
  }

  /** An async handler settled: one less in the load. */
  private settled(): void {
    this.busy--;
    this.watchers?.check(this.mailbox.length + this.busy);
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

  /** Completer: posts the answer to a call (`byRuntime`: weft's own refusal, which keeps its class). */
  reply(envelope: Envelope, ok: boolean, value: unknown, byRuntime: boolean): void {
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
    complete(this, envelope, Ending.Refused, new ServiceExitedError(`${this.address} (${this.name}) exited before answering "${envelope.cmd}"`));
  }

  private trace(envelope: Envelope): void {
    const what = `${envelope.proto === PROTO.lua ? `"${envelope.cmd}"` : protocolLabel(envelope.proto)} ${describeBody(open(envelope.body))}`;
    const kind = envelope.session > 0 ? `call #${envelope.session}` : "send";
    this.host.log(this.handle, `${kind} from ${formatHandle(envelope.source)}: ${what}`);
  }

  /** Completer: a line for the logger from this service. */
  log(text: string): void {
    this.host.log(this.handle, text);
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
      this.mailbox.follow(callback);
      this.host.scheduler.ready(this.mailbox);
      return;
    }
    this.enqueue(envelope(this.handle, 0, PROTO.local, label, callback));
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
    for (const envelope of [...this.inflight]) this.refuse(envelope);
    this.calls.failAll((call) => new ServiceExitedError(`${this.address} exited while calling ${formatHandle(call.dest)} "${call.cmd}"`, { cause: gone }));
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
