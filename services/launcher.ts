/**
 * The launcher (skynet's launcher service): it keeps the list of live services (and of those
 * lost with a worker) that the console shows. An ordinary newService does not go through it:
 * the caller places the service itself (runtime/placement: load counts every thread shares),
 * asks that worker's host to start it, and the host tells the launcher after (`launched`, a
 * one-way notice) — a new connection's agent costs the main thread one message, not four.
 * Supervised launches (a restart policy) and unique services go through it (`launch`,
 * `unique`): it places them by the same counts, asks the worker's host, and records the policy
 * from the answer.
 *
 * It is also the node's supervisor (on the main thread, where no worker's death can take it): a service launched with `restart: "permanent"` or `"transient"` is started again
 * when it ends (see supervision.ts for the policy), keeps its registered names and finds what
 * it remembered (`svc.remember`). Past the restart intensity the node stops with exit code 1,
 * so that a process supervisor (systemd, a container) restarts the whole node, as an OTP
 * supervisor gives up and lets its own supervisor decide.
 *
 * It keeps the monitors too (`svc.monitor`): it is told of every exit and every worker lost.
 */
import { defineService, formatHandle, NotRunningError, UsageError, type Handle, type LostService, type RestartPolicy, type ServiceRecord, type ServiceStat } from "weft";
import { hostHandle, isHostHandle, parseHandle, reserve, slotOf } from "weft/internal";
import { IntensityWindow, restartPolicy, shouldRestart } from "weft/internal";

interface LaunchOptions {
  /** A worker number, or undefined for the least-loaded one. */
  worker?: number;
  from?: Handle;
  restart?: RestartPolicy;
  /** Launched by uniqueService under this name. */
  unique?: string;
}

/** What the launcher keeps of a live service beyond its public record. */
interface Entry {
  record: ServiceRecord;
  /** Where it was asked to live, if it was; a restart goes there again. */
  worker?: number;
  unique?: string;
  /** What the service remembered for its next instance (svc.remember). */
  memo: Memo;
  /** Launch order: the order in which a worker's services are restarted. */
  order: number;
}

type Memo = Map<string, unknown>;

/** The most keys one service may remember: what it keeps must stay a summary, not a store. */
const MEMO_KEYS = 65_536;

/**
 * How long `list` and `monitor` wait for a worker to show that every launch it answered before
 * has been told here (a busy or stuck worker must not hold the console).
 */
const CATCH_UP_MS = 250;

/**
 * `loads`: the shared load counts (runtime/placement), from the kernel; placement needs no
 * list of its own here.
 */
export default defineService(async (svc, threads: number, intensity: number, periodMs: number, loads: Int32Array) => {
  const live = new Map<Handle, Entry>();
  const lost: LostService[] = [];
  const unique = new Map<string, Promise<Handle>>();
  const queries = new Map<string, ((handle: Handle) => void)[]>();
  /** Who monitors whom: target -> watchers, and watcher -> targets (dropped when it exits). */
  const monitors = new Map<Handle, Set<Handle>>();
  const monitoring = new Map<Handle, Set<Handle>>();
  const restarts = new IntensityWindow(intensity, periodMs);
  let launches = 0;
  let givenUp = false;
  /**
   * Exit notices for services not listed yet: a service that exits right after starting can
   * be reported before its launch reply reaches us. Bounded: only such races land here.
   */
  const exitedEarly = new Set<Handle>();
  /** What services remembered in their start function, before their launch reply reached us. */
  const memoEarly = new Map<Handle, Memo>();

  /** Takes in the services already running: the logger and itself at boot. */
  for (let worker = 0; worker <= threads; worker++) {
    const stats = (await svc.rawCall(hostHandle(worker), "system", { op: "list" }).catch(() => [])) as ServiceStat[];
    for (const stat of stats) {
      const handle = parseHandle(stat.address)!;
      if (live.has(handle)) continue;
      remember(handle, stat.name, [], {}, "temporary", 0);
    }
  }
  await svc.register(".launcher");

  /**
   * Resolves once worker `slot` has answered a request sent now: a launch it answered before
   * that has been told here by then, since its notice went out first on the same ring. Launch
   * notices and the answers callers act on travel different rings; this is how a `list` or a
   * `monitor` that follows a launch is sure to see it.
   */
  function caughtUp(slot: number): Promise<unknown> {
    return svc.withTimeout(CATCH_UP_MS).rawCall(hostHandle(slot), "system", { op: "stat", handle: hostHandle(slot) }).catch(() => undefined);
  }

  function remember(handle: Handle, name: string, args: unknown[], options: LaunchOptions, restart: RestartPolicy, restartCount: number, memo: Memo = new Map()): Entry {
    const record: ServiceRecord = { address: formatHandle(handle), handle, name, args, worker: slotOf(handle), started: Date.now(), restart, restarts: restartCount };
    for (const [key, value] of memoEarly.get(handle) ?? []) memo.set(key, value);
    memoEarly.delete(handle);
    const entry: Entry = { record, worker: options.worker, unique: options.unique, memo, order: launches++ };
    live.set(handle, entry);
    return entry;
  }

  async function launch(name: string, args: unknown[] = [], options: LaunchOptions = {}, restartCount = 0, memo: Memo = new Map()): Promise<Handle> {
    const policy = restartPolicy(options.restart);
    // Counted on the worker from here; its host takes the count back (failed start, exit).
    const worker = reserve(loads, threads, options.worker);
    const request = { op: "launch", name, args, from: options.from ?? 0, restarts: restartCount, memo: Object.fromEntries(memo) };
    const { handle, alive } = (await svc.rawCall(hostHandle(worker), "system", request)) as { handle: Handle; alive: boolean };
    // A service may exit inside its own start function; then there is nothing to list.
    if (alive && !exitedEarly.delete(handle)) remember(handle, name, args, options, policy, restartCount, memo);
    return handle;
  }

  function startUnique(name: string, args: unknown[], options: LaunchOptions): Promise<Handle> {
    const started = launch(name, args, { ...options, unique: name });
    unique.set(name, started);
    started.then(
      (handle) => {
        for (const resolve of queries.get(name) ?? []) resolve(handle);
        queries.delete(name);
      },
      () => unique.get(name) === started && unique.delete(name),
    );
    return started;
  }

  /** Only the runtime itself (a thread's system endpoint) may send the launcher's own notices. */
  function fromRuntime(command: string): void {
    const source = svc.source;
    if (source === undefined || !isHostHandle(source)) {
      throw new UsageError(`"${command}" is the runtime's own notice to the launcher; ${source === undefined ? "nobody" : formatHandle(source)} may not send it`);
    }
  }

  /** Monitors asked for targets not listed yet, by watcher, until their worker has caught up. */
  const awaited = new Map<Handle, Set<Handle>>();

  function watch(watcher: Handle, target: Handle): void {
    (monitors.get(target) ?? monitors.set(target, new Set()).get(target)!).add(watcher);
    (monitoring.get(watcher) ?? monitoring.set(watcher, new Set()).get(watcher)!).add(target);
  }

  function notRunning(watcher: Handle, target: Handle): void {
    svc.rawSend(hostHandle(slotOf(watcher)), "system", { op: "down", watcher, target, reason: "not running" });
  }

  /** Tells each watcher of `target` that it is down, once. */
  function down(target: Handle, reason: string): void {
    const watchers = monitors.get(target);
    if (!watchers) return;
    monitors.delete(target);
    for (const watcher of watchers) {
      monitoring.get(watcher)?.delete(target);
      svc.rawSend(hostHandle(slotOf(watcher)), "system", { op: "down", watcher, target, reason });
    }
  }

  /** A service is gone (exit or worker lost): its monitors fire, its own monitoring ends. */
  function gone(entry: Entry | undefined, handle: Handle, reason: string): void {
    down(handle, reason);
    for (const target of monitoring.get(handle) ?? []) monitors.get(target)?.delete(handle);
    monitoring.delete(handle);
    awaited.delete(handle);
    if (!entry) return;
    // A restart (below, in the same turn) puts its own promise in the unique table first.
    for (const [name, started] of unique) {
      void started.then((h) => h === handle && unique.get(name) === started && unique.delete(name), () => undefined);
    }
  }

  /**
   * Starts again the services that ended and whose policy says so, all at once (one may wait
   * for another in its start function: uniqueService of a sibling being restarted). Each
   * incident (a worker lost, a service ended) counts once against the intensity.
   */
  function restart(entries: Entry[], why: string, names: [string, Handle][] = []): void {
    const due = entries.filter((e) => shouldRestart(e.record.restart, why)).sort((a, b) => a.order - b.order);
    if (due.length === 0 || givenUp) return;
    if (!restarts.allow(Date.now())) {
      giveUp(`${due.map((e) => `${e.record.address} ${e.record.name}`).join(", ")} ended (${why}); that makes more than ${intensity} restarts within ${periodMs} ms`);
      return;
    }
    for (const entry of due) {
      const { record } = entry;
      const options: LaunchOptions = { worker: entry.worker, restart: record.restart, unique: entry.unique };
      const next = launch(record.name, record.args, options, record.restarts + 1, entry.memo);
      if (entry.unique !== undefined) unique.set(entry.unique, next);
      const theirNames = names.filter(([, h]) => h === record.handle).map(([name]) => name);
      next.then(
        async (handle) => {
          for (const name of theirNames) await svc.rawCall(hostHandle(0), "system", { op: "register", name, handle }).catch(() => undefined);
          for (const l of lost) if (l.handle === record.handle) l.restartedAs = formatHandle(handle);
          svc.log(`restarted ${record.name} (${record.restart}) as ${formatHandle(handle)}, after ${record.address} ended (${why})`);
        },
        (err: Error) => {
          if (entry.unique !== undefined && unique.get(entry.unique) === next) unique.delete(entry.unique);
          svc.log(`could not restart ${record.name} (after ${record.address} ended: ${why}): ${err.message}`);
          // The node is stopping: nothing is to be started again, and no failure to count.
          if (err instanceof NotRunningError) return;
          // A start that fails is one more restart: retried until the intensity gives up.
          setTimeout(() => restart([{ ...entry, record: { ...record, restarts: record.restarts + 1 } }], `restart failed: ${err.message}`), 100).unref();
        },
      );
    }
  }

  function giveUp(what: string): void {
    givenUp = true;
    const text = `restart intensity reached: ${what}. Stopping the node (exit code 1) so that its own supervisor can restart it`;
    svc.log(text);
    svc.rawSend(hostHandle(0), "system", { op: "fatal", reason: text });
  }

  return {
    launch: (name: string, args: unknown[] = [], options: LaunchOptions = {}) => launch(name, args, options),

    unique(name: string, args: unknown[] = [], options: LaunchOptions = {}): Promise<Handle> {
      return unique.get(name) ?? startUnique(name, args, options);
    },

    /** Waits until the unique service `name` has started (skynet.queryservice). */
    query(name: string): Promise<Handle> {
      const started = unique.get(name);
      if (started) return started;
      return new Promise((resolve) => {
        const waiting = queries.get(name) ?? [];
        waiting.push(resolve);
        queries.set(name, waiting);
      });
    },

    /** The unique services started so far (the console's `service`). */
    async uniques(): Promise<{ name: string; handle: Handle }[]> {
      const settled = await Promise.allSettled([...unique].map(async ([name, started]) => ({ name, handle: await started })));
      return settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    },

    /** Every live service, including those launched on a worker up to the moment of asking. */
    async list(): Promise<ServiceRecord[]> {
      const workers = Array.from({ length: threads }, (_, i) => i + 1);
      await Promise.all(workers.map(caughtUp));
      return [...live.values()].map((e) => e.record);
    },

    lost(): LostService[] {
      return lost;
    },

    /** svc.remember: a value the service's next instance finds after a restart; undefined forgets it. */
    remember(key: string, value: unknown): void {
      if (typeof key !== "string" || key === "__proto__") throw new UsageError(`svc.remember needs a string key other than "__proto__", not ${String(key)}`);
      const source = svc.source!;
      let memo = live.get(source)?.memo;
      if (memo === undefined) {
        // Remembered in its start function: the launch reply has not come back yet.
        memo = memoEarly.get(source) ?? memoEarly.set(source, new Map()).get(source)!;
        if (memoEarly.size > 1024) memoEarly.delete(memoEarly.keys().next().value!);
      }
      if (value === undefined || value === null) memo.delete(key);
      else if (memo.has(key) || memo.size < MEMO_KEYS) memo.set(key, value);
      else throw new UsageError(`${formatHandle(source)} remembers ${MEMO_KEYS} keys already`);
    },

    /**
     * svc.monitor: the caller hears once when `target` exits or is lost. A target not listed
     * may have been launched on its worker with the notice still on its way (the watcher had the
     * answer by another ring): its worker is asked first, and only then is it "not running".
     */
    monitor(target: Handle): void | Promise<void> {
      const watcher = svc.source!;
      if (live.has(target)) {
        watch(watcher, target);
        return;
      }
      const slot = slotOf(target);
      if (slot < 1 || slot > threads) {
        notRunning(watcher, target);
        return;
      }
      const wanted = awaited.get(watcher) ?? awaited.set(watcher, new Set()).get(watcher)!;
      wanted.add(target);
      return caughtUp(slot).then(() => {
        // A demonitor that came meanwhile took it back; a watcher that exited meanwhile wants nothing.
        if (!wanted.delete(target) || awaited.get(watcher) !== wanted) return;
        if (wanted.size === 0) awaited.delete(watcher);
        if (live.has(target)) watch(watcher, target);
        else notRunning(watcher, target);
      });
    },

    demonitor(target: Handle): void {
      const watcher = svc.source!;
      awaited.get(watcher)?.delete(target);
      monitors.get(target)?.delete(watcher);
      monitoring.get(watcher)?.delete(target);
    },

    /**
     * Sent by a worker's host after it started a service that newService placed there: the
     * launcher lists it from now on. An exit notice may have come first (the service exited at
     * once); then there is nothing to list.
     */
    launched(handle: Handle, name: string, args: unknown[], alive: boolean): void {
      fromRuntime("launched");
      if (exitedEarly.delete(handle) || !alive || live.has(handle)) return;
      remember(handle, name, args, {}, "temporary", 0);
    },

    /** Sent by a thread when one of its services exits. */
    exited(handle: Handle, reason: string, names: string[] = []): void {
      fromRuntime("exited");
      const entry = live.get(handle);
      if (!entry) {
        exitedEarly.add(handle);
        if (exitedEarly.size > 1024) exitedEarly.delete(exitedEarly.values().next().value!);
        return;
      }
      live.delete(handle);
      gone(entry, handle, reason);
      restart(
        [entry],
        reason,
        names.map((name) => [name, handle]),
      );
    },

    /** Sent by the kernel when a worker died: its services are gone, with these names. */
    workerLost(worker: number, reason: string, names: [string, Handle][] = []): void {
      fromRuntime("workerLost");
      const entries = [...live.values()].filter((e) => e.record.worker === worker);
      const why = `worker ${worker} lost: ${reason}`;
      for (const entry of entries) {
        live.delete(entry.record.handle);
        lost.push({ ...entry.record, reason });
        gone(entry, entry.record.handle, why);
      }
      // The list of what was lost is for the console: the newest thousand are kept.
      if (lost.length > 1000) lost.splice(0, lost.length - 1000);
      svc.log(`worker ${worker} lost (${reason}): ${entries.map((e) => `${e.record.address} ${e.record.name}`).join(", ") || "no services"}`);
      restart(entries, why, names);
    },
  };
});
