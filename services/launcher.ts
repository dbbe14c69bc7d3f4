/**
 * The launcher (skynet's launcher service): every newService goes through it. It places the
 * service on a worker, asks that worker's host to start it, and keeps the list of live
 * services (and of those lost with a worker) that the console shows.
 */
import { ConfigError, defineService, formatHandle, type Handle, type LostService, type ServiceRecord, type ServiceStat } from "weft";
import { hostHandle, parseHandle, slotOf } from "weft/internal";

interface LaunchOptions {
  /** A worker number, or undefined for the least-loaded one. */
  worker?: number;
  from?: Handle;
}

export default defineService(async (svc, threads: number) => {
  const live = new Map<Handle, ServiceRecord>();
  const lost: LostService[] = [];
  /** Services per worker, counting launches still in progress, for least-loaded placement. */
  const load = new Array<number>(threads + 1).fill(0);
  const unique = new Map<string, Promise<Handle>>();
  const queries = new Map<string, ((handle: Handle) => void)[]>();
  /**
   * Exit notices for services not listed yet: a service that exits right after starting can
   * be reported before its launch reply reaches us. Bounded: only such races land here.
   */
  const exitedEarly = new Set<Handle>();

  /** Takes in the services already running: the logger and itself at boot. */
  async function adopt(): Promise<number> {
    for (let worker = 0; worker <= threads; worker++) {
      const stats = (await svc.rawCall(hostHandle(worker), "system", { op: "list" }).catch(() => [])) as ServiceStat[];
      for (const stat of stats) {
        const handle = parseHandle(stat.address)!;
        if (live.has(handle)) continue;
        remember(handle, stat.name, []);
        load[worker]++;
      }
    }
    return live.size;
  }

  await adopt();
  await svc.register(".launcher");

  function place(worker: number | undefined): number {
    if (worker !== undefined) {
      if (!Number.isInteger(worker) || worker < 1 || worker > threads) throw new ConfigError(`there is no worker ${worker}: workers are 1..${threads}`);
      return worker;
    }
    let best = 1;
    for (let w = 2; w <= threads; w++) if (load[w] < load[best]) best = w;
    return best;
  }

  function remember(handle: Handle, name: string, args: unknown[]): void {
    live.set(handle, { address: formatHandle(handle), handle, name, args, worker: slotOf(handle), started: Date.now() });
  }

  async function launch(name: string, args: unknown[] = [], options: LaunchOptions = {}): Promise<Handle> {
    const worker = place(options.worker);
    load[worker]++;
    try {
      const { handle, alive } = (await svc.rawCall(hostHandle(worker), "system", { op: "launch", name, args, from: options.from ?? 0 })) as {
        handle: Handle;
        alive: boolean;
      };
      // A service may exit inside its own start function; then there is nothing to list.
      if (alive && !exitedEarly.delete(handle)) remember(handle, name, args);
      else load[worker]--;
      return handle;
    } catch (err) {
      load[worker]--;
      throw err;
    }
  }

  return {
    launch,

    unique(name: string, args: unknown[] = []): Promise<Handle> {
      let started = unique.get(name);
      if (started === undefined) {
        started = launch(name, args);
        unique.set(name, started);
        started.then(
          (handle) => {
            for (const resolve of queries.get(name) ?? []) resolve(handle);
            queries.delete(name);
          },
          () => unique.delete(name),
        );
      }
      return started;
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

    list(): ServiceRecord[] {
      return [...live.values()];
    },

    lost(): LostService[] {
      return lost;
    },

    /** Sent by a host when one of its services exits. */
    exited(handle: Handle): void {
      const record = live.get(handle);
      if (!record) {
        exitedEarly.add(handle);
        if (exitedEarly.size > 1024) exitedEarly.delete(exitedEarly.values().next().value!);
        return;
      }
      live.delete(handle);
      load[record.worker]--;
      for (const [name, started] of unique) {
        void started.then((h) => h === handle && unique.get(name) === started && unique.delete(name), () => undefined);
      }
    },

    /** Sent by the kernel when a worker died: its services are gone. */
    workerLost(worker: number, reason: string): void {
      const gone = [...live.values()].filter((r) => r.worker === worker);
      for (const record of gone) {
        live.delete(record.handle);
        lost.push({ ...record, reason });
      }
      load[worker] = 0;
      for (const [name, started] of unique) {
        void started.then((h) => slotOf(h) === worker && unique.get(name) === started && unique.delete(name), () => undefined);
      }
      svc.log(`worker ${worker} lost (${reason}): ${gone.map((r) => `${r.address} ${r.name}`).join(", ") || "no services"}`);
    },

    adopt,
  };
});
