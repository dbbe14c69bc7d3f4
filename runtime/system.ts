/**
 * What every thread's system endpoint (handle `slot << 24`) answers: the launcher, the console
 * and the kernel ask these. The kernel adds its own (names, environment) on slot 0.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { sealArgs } from "./codec.js";
import type { Handle } from "./handle.js";
import type { Host } from "./host.js";
import { release } from "./placement.js";
import { PROTO, type SystemRequest } from "./protocol.js";

/**
 * A launch as svc.newService sends it straight to the target worker's endpoint: `tell` asks
 * this host to tell the launcher of the new service once it runs (the launcher keeps the list,
 * the monitors and supervision, and hears of the launch after the fact). The launcher's own
 * launches (supervised, unique) leave it out: it records them from the answer.
 */
export type LaunchRequest = Extract<SystemRequest, { op: "launch" }> & { tell?: boolean };

/** What a launch answers: `alive` is false when the service exited inside its own start function. */
export interface Launched {
  handle: Handle;
  alive: boolean;
}

export function answerHostRequest(host: Host, request: SystemRequest): unknown {
  switch (request.op) {
    case "launch":
      return launch(host, request as LaunchRequest);
    case "watch":
      host.services.get(request.target)?.watchLoad(request.watcher, request.mark);
      return true;
    case "unwatch":
      host.services.get(request.target)?.unwatchLoad(request.watcher);
      return true;
    case "load":
      host.services.get(request.watcher)?.loadChanged(request.target, request.full, request.gone === true);
      return true;
    case "down":
      host.services.get(request.watcher)?.targetDown(request.target, request.reason);
      return true;
    case "kill": {
      const service = host.services.get(request.handle);
      if (!service || service === host.system) return false;
      return service.exit(request.reason ?? "killed").then(() => true);
    }
    case "stat": {
      const service = host.services.get(request.handle);
      return service && service !== host.system ? service.ctx.stat() : undefined;
    }
    case "list":
      return [...host.services.values()].filter((s) => s !== host.system).map((s) => s.ctx.stat());
    case "mem":
      return { slot: host.slot, ...process.memoryUsage(), heap: getHeapStatistics() };
    case "gc": {
      const before = process.memoryUsage().heapUsed;
      collectGarbage();
      return { slot: host.slot, before, after: process.memoryUsage().heapUsed };
    }
    case "names":
      for (const [name, handle] of Object.entries(request.set ?? {})) host.names.set(name, handle);
      for (const name of request.drop ?? []) host.names.delete(name);
      return true;
    case "env":
      host.setenv(request.key, request.value);
      return true;
    case "replace":
      // In order with the data on the kernel's ring: whatever the kernel sends after this, and
      // so whatever anyone learns from it, finds the new link in place (or waiting for it).
      host.rings.replace(request.slot);
      host.failCallsTo(request.slot, request.reason);
      host.forgetLoadOf(request.slot);
      return true;
    case "shutdown":
      return shutdown(host, request.keep);
    default:
      throw new Error(`thread ${host.slot} does not answer system request "${request.op}"`);
  }
}

/**
 * Starts a service here for whoever placed it (runtime/placement: the placer counted it on this
 * slot). The count comes back off when the start fails, or when the service exits.
 */
async function launch(host: Host, request: LaunchRequest): Promise<Launched> {
  let handle: Handle;
  try {
    handle = await host.launch(request.name, request.args, { restarts: request.restarts ?? 0, memo: request.memo ?? {} });
  } catch (err) {
    release(host.loads, host.slot);
    throw err;
  }
  const service = host.services.get(handle);
  const alive = service !== undefined;
  if (service?.alive) service.ctx.onExit(() => release(host.loads, host.slot));
  else release(host.loads, host.slot);
  if (request.tell === true) {
    // Before the answer leaves: on this thread's ring to the main thread the notice comes first,
    // so a caller there (the embedding API) that lists or monitors after the answer finds it.
    // From this endpoint: the launcher takes its notices from the runtime only.
    const launcher = host.names.get(".launcher");
    if (launcher !== undefined) host.post(launcher, host.system.handle, 0, PROTO.lua, "launched", sealArgs([handle, request.name, request.args, alive]));
  }
  return { handle, alive };
}

/**
 * Ends this thread's services, then makes sure the logger has handled every line they logged:
 * its answer comes back behind them on the same ring, so the kernel may stop it after this.
 */
async function shutdown(host: Host, keep: Handle[]): Promise<void> {
  await host.exitAll("shutdown", keep);
  const logger = host.names.get(".logger");
  if (logger !== undefined) await host.system.ctx.call(logger, "flush").catch(() => undefined);
}

/** A full collection on this thread, without starting Node with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}
