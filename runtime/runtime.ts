/**
 * The embedding API: start a runtime from a config, talk to its services from the main thread,
 * stop it. The `weft` command line is a thin layer over this.
 *
 * @example
 * const rt = await Runtime.start({ thread: 2, servicePath: "services", start: null });
 * const db = await rt.newService("simpledb");
 * await rt.call(db, "set", "k", 1);
 * await rt.stop();
 */
import { fileURLToPath } from "node:url";
import type { Service } from "./context.js";
import type { Address, CommandArgs, CommandName, CommandResult, Proxy } from "./define.js";
import { NotRunningError } from "./errors.js";
import type { Handle } from "./handle.js";
import { Kernel } from "./kernel.js";
import { resolveConfig, type ResolvedConfig, type RuntimeConfig } from "./config.js";

/** The built-in services (launcher, logger, gate, ...) are found after the user's servicePath. */
const builtinServices = fileURLToPath(new URL("../services/", import.meta.url));

export interface ServiceRecord {
  address: string;
  handle: Handle;
  name: string;
  args: unknown[];
  worker: number;
  started: number;
}

export interface LostService extends ServiceRecord {
  reason: string;
}

export class Runtime {
  private stopped?: Promise<void>;

  private constructor(
    private readonly kernel: Kernel,
    readonly config: ResolvedConfig,
  ) {}

  /** Starts the workers, the logger, the launcher and `config.start` (default "main"). */
  static async start(config: RuntimeConfig = {}): Promise<Runtime> {
    const resolved = resolveConfig(config);
    const kernel = new Kernel({
      thread: resolved.thread,
      servicePath: [...resolved.servicePath, builtinServices],
      env: { ...resolved },
      endlessLoopMs: resolved.endlessLoop,
      offloadThreads: resolved.offloadThreads,
      resourceLimits: resolved.workerHeapMb ? { maxOldGenerationSizeMb: resolved.workerHeapMb } : undefined,
    });
    try {
      await kernel.start();
      await kernel.bootSystemServices(resolved.logger);
      if (resolved.start !== null) await kernel.host.system.ctx.call(".launcher", "launch", resolved.start, [], {});
    } catch (err) {
      await kernel.stop();
      throw err;
    }
    return new Runtime(kernel, resolved);
  }

  /** The main thread's own context: its calls come from `:00000000`. */
  private get svc(): Service {
    if (this.stopped) throw new NotRunningError("the runtime has been stopped");
    return this.kernel.host.system.ctx;
  }

  get threads(): number {
    return this.kernel.threads;
  }

  async newService<S = any>(name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.svc.newService<S>(name, ...args);
  }

  async newServiceOn<S = any>(worker: number, name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.svc.newServiceOn<S>(worker, name, ...args);
  }

  async uniqueService<S = any>(name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.svc.uniqueService<S>(name, ...args);
  }

  async queryService<S = any>(name: string): Promise<Address<S>> {
    return this.svc.queryService<S>(name);
  }

  async queryName(name: string): Promise<Handle | undefined> {
    return this.svc.queryName(name);
  }

  async call<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): Promise<CommandResult<S, K>> {
    return this.svc.call<S, K>(addr, cmd, ...args);
  }

  send<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): void {
    this.svc.send<S, K>(addr, cmd, ...args);
  }

  async rawCall(addr: Handle | string, proto: string | number, payload: unknown): Promise<unknown> {
    return this.svc.rawCall(addr, proto, payload);
  }

  rawSend(addr: Handle | string, proto: string | number, payload: unknown): void {
    this.svc.rawSend(addr, proto, payload);
  }

  proxy<S>(addr: Address<S> | string, options?: { timeout?: number }): Proxy<S> {
    return this.svc.proxy<S>(addr, options);
  }

  withTimeout(ms: number) {
    return this.svc.withTimeout(ms);
  }

  async kill(addr: Handle | string): Promise<boolean> {
    return this.svc.kill(addr);
  }

  getenv<T = unknown>(key: string): T | undefined {
    return this.svc.getenv<T>(key);
  }

  async setenv(key: string, value: unknown): Promise<void> {
    return this.svc.setenv(key, value);
  }

  /** Every live service, as the launcher knows them. */
  async list(): Promise<ServiceRecord[]> {
    return this.svc.call(".launcher", "list") as Promise<ServiceRecord[]>;
  }

  /** Services lost with a worker that died. */
  async lost(): Promise<LostService[]> {
    return this.svc.call(".launcher", "lost") as Promise<LostService[]>;
  }

  /** The live worker slots (1..thread). */
  workers(): number[] {
    return this.kernel.workers();
  }

  /** A request to a worker's system endpoint (list, mem, gc, stat): for the console and tools. */
  system(worker: number, request: Parameters<Kernel["system"]>[1]): Promise<unknown> {
    return this.kernel.system(worker, request);
  }

  /** Ends every service (their exit hooks run), then the workers. Safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= this.kernel.stop();
    return this.stopped;
  }
}
