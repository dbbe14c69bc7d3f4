/**
 * The main thread's part: it starts the worker pool and wires every pair of threads together,
 * keeps the authoritative name and environment tables (each worker holds a copy), boots the
 * logger, the launcher and the first service, watches for endless loops, replaces workers that
 * die, and shuts everything down in order.
 */
import createDebug from "debug";
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { defaults } from "./defaults.js";
import { NameTakenError, NotRunningError } from "./errors.js";
import { formatHandle, hostHandle, MAX_SLOTS, slotOf } from "./handle.js";
import { Host } from "./host.js";
import { createStampMemory, StallDetector } from "./monitor.js";
import { createLoads, lost as placementLost, ready as placementReady } from "./placement.js";
import { PROTO, type SystemRequest } from "./protocol.js";
import { createRing } from "./ring.js";
import { answerHostRequest } from "./system.js";
import type { Link } from "./rings.js";
import type { HostTask } from "./worker.js";

const trace = createDebug("weft:kernel");

/** How long a name or setenv change waits for a busy worker to confirm it. */
const BROADCAST_WAIT_MS = 1000;

export interface KernelOptions {
  thread: number;
  servicePath: string[];
  env: Record<string, unknown>;
  /** Piscina's resourceLimits for each worker (maxOldGenerationSizeMb, ...). */
  resourceLimits?: Record<string, number>;
  endlessLoopMs: number;
  /** A worker in one message this long is terminated and replaced; 0: never. */
  stuckWorkerMs: number;
  /** Supervised restarts allowed within restartPeriodMs before the node stops. */
  restartIntensity: number;
  restartPeriodMs: number;
  /** Threads of the offload pool (svc.offload); piscina's default when unset. */
  offloadThreads?: number;
}

interface Slot {
  ready: Promise<void>;
  markReady: () => void;
  /** The host task: it ends at shutdown, or fails when the worker dies. */
  run: Promise<unknown>;
  /** The worker thread's id, from its "ready": how the kernel finds it to terminate it. */
  threadId?: number;
}

export class Kernel {
  readonly host: Host;
  private readonly pool: Piscina;
  private readonly counters = new SharedArrayBuffer(MAX_SLOTS * 4);
  private readonly doorbells = new SharedArrayBuffer(MAX_SLOTS * 4);
  /** Services per slot, seen by every host: placement without asking the main thread. */
  private readonly loads = createLoads();
  /** Ring size per direction per pair: up to 1 MiB, less when there are many threads. */
  private readonly ringBytes: number;
  private readonly stamps = createStampMemory(MAX_SLOTS);
  private readonly detector: StallDetector;
  private readonly slots = new Map<number, Slot>();
  private monitor?: NodeJS.Timeout;
  /** A second pool for stateless CPU-heavy jobs (svc.offload), made on first use. */
  private offloads?: Piscina;
  private stopping = false;
  /** Workers being terminated by the kernel, and why: said when they are gone. */
  private readonly terminating = new Map<number, string>();
  readonly startTime = Date.now();

  constructor(private readonly options: KernelOptions) {
    this.host = new Host({
      slot: 0,
      counters: new Int32Array(this.counters),
      doorbells: new Int32Array(this.doorbells),
      loads: new Int32Array(this.loads),
      servicePath: options.servicePath,
      env: options.env,
      names: {},
      startTime: this.startTime,
    });
    this.host.onSystem((request) => this.answer(request));
    const directions = (options.thread + 1) * options.thread;
    this.ringBytes = Math.max(64 * 1024, Math.min(1 << 20, 2 ** Math.floor(Math.log2((64 << 20) / directions))));
    this.detector = new StallDetector(this.stamps, options.endlessLoopMs, options.stuckWorkerMs);
    this.pool = new Piscina({
      filename: new URL("./worker.js", import.meta.url).href,
      minThreads: options.thread,
      maxThreads: options.thread,
      idleTimeout: Infinity,
      // 'sync' would park idle workers in Atomics.wait, freezing the services they host.
      atomics: "disabled",
      concurrentTasksPerWorker: 1,
      recordTiming: false,
      resourceLimits: options.resourceLimits,
    });
  }

  get threads(): number {
    return this.options.thread;
  }

  /** Starts every worker and waits until each can host services. */
  async start(): Promise<void> {
    const all = Array.from({ length: this.options.thread }, (_, i) => i + 1);
    const links: Record<number, Link>[] = all.map(() => ({}));
    for (const slot of all) {
      const [kernelEnd, workerEnd] = this.pair();
      this.host.rings.attach(slot, kernelEnd);
      links[slot - 1][0] = workerEnd;
      for (const other of all) {
        if (other <= slot) continue;
        const [a, b] = this.pair();
        links[slot - 1][other] = a;
        links[other - 1][slot] = b;
      }
    }
    for (const slot of all) this.spawn(slot, links[slot - 1]);
    await Promise.all([...this.slots.values()].map((s) => s.ready));
    // A stamp is seen busy up to one interval after its message began: that is the error of
    // both limits, so the interval is short (reading a few words of shared memory costs nothing).
    this.monitor = setInterval(() => this.checkStalls(), Math.min(250, this.options.endlessLoopMs / 4));
    this.monitor.unref();
  }

  private offloadPool(): Piscina {
    if (this.stopping) throw new NotRunningError("the runtime is stopping");
    this.offloads ??= new Piscina({ maxThreads: this.options.offloadThreads, idleTimeout: 30_000 });
    return this.offloads;
  }

  /** Both ends of a new link between two threads. */
  private pair(): [Link, Link] {
    const { port1, port2 } = new MessageChannel();
    const ab = createRing(this.ringBytes);
    const ba = createRing(this.ringBytes);
    return [
      { port: port1, out: ab, in: ba },
      { port: port2, out: ba, in: ab },
    ];
  }

  /** The live worker slots. */
  workers(): number[] {
    return [...this.slots.keys()];
  }

  /** Sends a request to a thread's system endpoint and waits for the answer. */
  system(slot: number, request: SystemRequest): Promise<unknown> {
    return this.host.system.ctx.rawCall(hostHandle(slot), PROTO.system, request);
  }

  log(text: string): void {
    this.host.log(this.host.system.handle, text);
  }

  /**
   * Ends every service (exit hooks run), then the workers, then the launcher and the logger.
   * Answers the services that did not stop in time (their worker was stuck): `:0100000a name`.
   */
  async stop(): Promise<string[]> {
    if (this.stopping) return [];
    this.stopping = true;
    clearInterval(this.monitor);
    const logger = this.host.names.get(".logger");
    const keep = logger === undefined ? [] : [logger];
    const slots = this.workers();
    // One deadline for the whole stop: a worker stuck in a handler cannot hold it longer.
    const deadline = Date.now() + defaults.shutdownMs;
    const settle = (work: Promise<unknown>[]) => withDeadline(Promise.allSettled(work), Math.max(0, deadline - Date.now()));
    await settle(slots.map((slot) => this.system(slot, { op: "shutdown", keep })));
    const unstopped = await this.stillRunning();
    if (unstopped.length > 0) this.log(`shutdown: ${unstopped.length} service(s) did not stop (their exit hooks could not run; a worker was stuck): ${unstopped.join(", ")}`);
    for (const slot of slots) this.host.rings.postControl(slot, { control: "shutdown" });
    await settle([...this.slots.values()].map((s) => s.run));
    // The system services live here, on the main thread: the logger goes last.
    await settle([this.host.exitAll("shutdown", keep)]);
    await settle([this.host.exitAll("shutdown")]);
    this.host.failAllCalls(new NotRunningError("the runtime stopped before this call was answered"));
    this.host.rings.close();
    await Promise.all([this.pool.destroy(), this.offloads?.destroy()]);
    trace("stopped");
    return unstopped;
  }

  /** The services on workers the launcher still lists: every one that stopped has told it. */
  private async stillRunning(): Promise<string[]> {
    const launcher = this.host.names.get(".launcher");
    if (launcher === undefined) return [];
    const list = this.host.system.ctx.withTimeout(1000).call(launcher, "list") as Promise<{ address: string; name: string; worker: number }[]>;
    const records = await list.catch(() => []);
    return records.filter((r) => r.worker !== 0).map((r) => `${r.address} ${r.name}`);
  }

  private spawn(slot: number, links: Record<number, Link>): void {
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const task: HostTask = {
      slot,
      links,
      counters: this.counters,
      doorbells: this.doorbells,
      loads: this.loads,
      stamps: this.stamps,
      servicePath: this.options.servicePath,
      env: this.host.env,
      names: Object.fromEntries(this.host.names),
      startTime: this.startTime,
    };
    const run = this.pool.run(task, { transferList: Object.values(links).map((link) => link.port) as never });
    this.slots.set(slot, { ready, markReady, run });
    run.then(
      () => this.slots.delete(slot),
      (err: Error) => this.lost(slot, err),
    );
  }

  /**
   * A worker died: fail everything that waited on it, start a replacement, and switch every
   * thread over to it. Each worker gets the new link by port, then a "replace" request on the
   * kernel's ring, in order with everything the kernel sends after: a call made by anyone who
   * learned of the death from the kernel reaches the replacement.
   */
  private lost(slot: number, err: Error): void {
    this.slots.get(slot)?.markReady();
    this.slots.delete(slot);
    const reason = this.terminating.get(slot) ?? err?.message ?? String(err);
    this.terminating.delete(slot);
    trace("slot %d lost: %s", slot, reason);
    this.host.rings.detach(slot);
    this.host.failCallsTo(slot, reason);
    this.host.forgetLoadOf(slot);
    if (this.stopping) return;
    this.detector.reset(slot);
    // Its services are gone and will not say so: the replacement starts empty, and takes no
    // least-loaded launch until it is ready (one sent before a thread switched links would be lost).
    placementLost(this.host.loads, slot);
    const lostNames = [...this.host.names].filter(([, handle]) => slotOf(handle) === slot);
    const dropped = lostNames.map(([name]) => name);
    for (const name of dropped) this.host.names.delete(name);

    const links: Record<number, Link> = {};
    const [kernelEnd, workerEnd] = this.pair();
    this.host.rings.attach(slot, kernelEnd);
    links[0] = workerEnd;
    const others = this.workers();
    for (const other of others) {
      const [mine, theirs] = this.pair();
      links[other] = mine;
      this.host.rings.postControl(other, { control: "link", slot, link: theirs }, [theirs.port]);
      this.host.post(hostHandle(other), this.host.system.handle, 0, PROTO.system, "", { op: "replace", slot, reason });
    }
    this.spawn(slot, links);
    if (dropped.length > 0) void this.broadcast({ op: "names", drop: dropped });
    this.log(`worker ${slot} died (${reason}); its services are lost; a replacement is starting`);
    const launcher = this.host.names.get(".launcher");
    // The names go with it so that supervision can give them to the restarted services.
    if (launcher !== undefined) this.host.system.ctx.send(launcher, "workerLost", slot, reason, lostNames);
  }

  /**
   * Starts the logger and the launcher here, on the main thread, where no worker's death can
   * take them (and the launcher's list of what was lost) away.
   */
  async bootSystemServices(loggerFile: string | null): Promise<void> {
    await this.host.launch("logger", [loggerFile]);
    // The launcher places what it starts (supervised restarts, unique services) by the same shared counts.
    await this.host.launch("launcher", [this.options.thread, this.options.restartIntensity, this.options.restartPeriodMs, this.host.loads]);
  }

  /** Set by the Runtime: supervision gave up, the node must stop (exit code 1). */
  onFatal: (reason: string) => void = () => undefined;

  /** What the kernel answers at handle :00000000. */
  private answer(request: SystemRequest): unknown {
    switch (request.op) {
      case "ready": {
        const slot = this.slots.get(request.slot);
        if (slot) slot.threadId = request.threadId;
        slot?.markReady();
        placementReady(this.host.loads, request.slot);
        return true;
      }
      case "kill":
        return this.kill(request);
      case "fatal":
        this.onFatal(request.reason);
        return true;
      case "register": {
        const owner = this.host.names.get(request.name);
        if (owner !== undefined && owner !== request.handle) {
          throw new NameTakenError(`name "${request.name}" is taken by ${formatHandle(owner)}`);
        }
        this.host.names.set(request.name, request.handle);
        return this.broadcast({ op: "names", set: { [request.name]: request.handle } });
      }
      case "unregister": {
        const drop = request.names.filter((name) => this.host.names.get(name) === request.handle);
        for (const name of drop) this.host.names.delete(name);
        return drop.length > 0 ? this.broadcast({ op: "names", drop }) : true;
      }
      case "queryName":
        return this.host.names.get(request.name);
      case "offload":
        return this.offloadPool().run(request.input, { filename: request.filename, name: request.name });
      case "setenv":
        this.host.setenv(request.key, request.value);
        return this.broadcast({ op: "env", key: request.key, value: request.value });
      default:
        return answerHostRequest(this.host, request);
    }
  }

  /**
   * Updates every worker's copy of the names or the environment; resolves once each has it,
   * so whoever asked can tell anyone and be sure they see the change.
   */
  private async broadcast(request: SystemRequest): Promise<true> {
    if (this.stopping) return true; // workers are ending: nothing left to keep in step
    // A worker dying meanwhile has nothing left to update; one stuck in a long handler gets the
    // update when it comes back (it is in its ring), but must not hold everyone else up.
    await withDeadline(Promise.allSettled(this.workers().map((slot) => this.system(slot, request))), BROADCAST_WAIT_MS);
    return true;
  }

  private checkStalls(): void {
    for (const stuck of this.detector.check(this.workers(), Date.now())) {
      const what = `A message from ${formatHandle(stuck.source)} to ${formatHandle(stuck.dest)} ("${stuck.cmd}") has run for ${Math.round(stuck.ms)} ms on worker ${stuck.slot}`;
      if (stuck.kind === "slow") this.warn(stuck.dest, stuck.slot, `${what}: maybe an endless loop`);
      else this.recover(stuck.slot, `${what}, past the stuckWorker limit of ${this.options.stuckWorkerMs} ms`);
    }
  }

  /** A line for the operator; said on stderr too when the logger lives on the worker concerned. */
  private warn(source: number, slot: number, text: string): void {
    const logger = this.host.names.get(".logger");
    if (logger === undefined || slotOf(logger) === slot) process.stderr.write(`[${formatHandle(source)}] ${text}\n`);
    this.host.log(source, text);
  }

  /**
   * Ends a worker that is stuck in one handler: Worker.terminate stops even a thread in an
   * endless loop. Its end is an ordinary worker loss from here on (see lost): callers fail
   * with WorkerLostError, a replacement starts, supervision restarts what it should.
   */
  private recover(slot: number, why: string): boolean {
    const threadId = this.slots.get(slot)?.threadId;
    const worker = threadId === undefined ? undefined : this.pool.threads.find((t) => t.threadId === threadId);
    if (worker === undefined) return false;
    this.warn(hostHandle(slot), slot, `${why}: terminating worker ${slot}`);
    this.terminating.set(slot, why);
    void worker.terminate();
    return true;
  }

  /**
   * `kill` goes through the kernel: a service whose worker is stuck cannot end itself, so the
   * worker is recovered at once; otherwise its own thread ends it.
   */
  private async kill(request: Extract<SystemRequest, { op: "kill" }>): Promise<boolean> {
    const slot = slotOf(request.handle);
    if (slot === 0) return answerHostRequest(this.host, request) as Promise<boolean>;
    if (!this.slots.has(slot)) return false;
    if (this.detector.busyFor(slot, Date.now()) >= this.options.endlessLoopMs) {
      const { dest, cmd } = this.detector.current(slot);
      return this.recover(slot, `kill ${formatHandle(request.handle)}: worker ${slot} has been stuck in a message to ${formatHandle(dest)} ("${cmd}")`);
    }
    return (await this.system(slot, request)) === true;
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

