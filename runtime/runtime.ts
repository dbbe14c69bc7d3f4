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
import type { LaunchOptions, RestartPolicy, Service } from "./context.js";
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
  restart: RestartPolicy;
  /** How many times supervision started it again before this instance. */
  restarts: number;
}

export interface LostService extends ServiceRecord {
  reason: string;
  /** The address of the instance supervision started in its place, if it did. */
  restartedAs?: string;
}

/** How a runtime ended: asked to (`stop`) or because supervision gave up (`fatal`). */
export interface StopReport {
  reason: "stop" | "fatal";
  /** For `fatal`: what supervision said. */
  message?: string;
  /** Services whose exit hooks could not run (their worker was stuck): `:0100000a name`. */
  unstopped: string[];
}

export class Runtime {
  private stopping?: Promise<StopReport>;
  private fatal?: string;
  private readonly ended: Promise<StopReport>;
  private end!: (report: StopReport) => void;

  private constructor(
    private readonly kernel: Kernel,
    readonly config: ResolvedConfig,
  ) {
    this.ended = new Promise((resolve) => (this.end = resolve));
    // Supervision gave up: the runtime stops itself; whoever awaits stopped() learns why.
    kernel.onFatal = (reason) => {
      this.fatal ??= reason;
      void this.stop();
    };
  }

  /** Starts the workers, the logger, the launcher and `config.start` (default "main"). */
  static async start(config: RuntimeConfig = {}): Promise<Runtime> {
    const resolved = resolveConfig(config);
    const kernel = new Kernel({
      thread: resolved.thread,
      servicePath: [...resolved.servicePath, builtinServices],
      env: { ...resolved },
      endlessLoopMs: resolved.endlessLoop,
      stuckWorkerMs: resolved.stuckWorker,
      restartIntensity: resolved.restartIntensity,
      restartPeriodMs: resolved.restartPeriod,
      offloadThreads: resolved.offloadThreads,
      resourceLimits: resolved.workerHeapMb ? { maxOldGenerationSizeMb: resolved.workerHeapMb } : undefined,
    });
    try {
      await kernel.start();
      await kernel.bootSystemServices(resolved.logger);
      if (resolved.start !== null) await kernel.host.system.ctx.call(".launcher", "launch", resolved.start, [], { restart: resolved.startRestart });
    } catch (err) {
      await kernel.stop();
      throw err;
    }
    return new Runtime(kernel, resolved);
  }

  /** The main thread's own context: its calls come from `:00000000`. */
  private get svc(): Service {
    if (this.stopping) throw new NotRunningError("the runtime has been stopped");
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

  /** newService with a restart policy, a placement or uniqueness (see Service.newServiceWith). */
  async newServiceWith<S = any>(options: LaunchOptions, name: string, ...args: unknown[]): Promise<Address<S>> {
    return this.svc.newServiceWith<S>(options, name, ...args);
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

  /**
   * Ends every service (exit hooks run), then the workers. Safe to call twice. The report says
   * which services could not stop (a stuck worker) and whether supervision gave up.
   */
  stop(): Promise<StopReport> {
    this.stopping ??= this.kernel.stop().then((unstopped) => {
      const report: StopReport = this.fatal === undefined ? { reason: "stop", unstopped } : { reason: "fatal", message: this.fatal, unstopped };
      this.end(report);
      return report;
    });
    return this.stopping;
  }

  /** Resolves when the runtime has stopped, asked to or because supervision gave up (`fatal`). */
  stopped(): Promise<StopReport> {
    return this.ended;
  }
}
