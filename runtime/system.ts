/**
 * What every thread's system endpoint (handle `slot << 24`) answers: the launcher, the console
 * and the kernel ask these. The kernel adds its own (names, environment) on slot 0.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Handle } from "./handle.js";
import type { Host } from "./host.js";
import type { SystemRequest } from "./protocol.js";

export function answerHostRequest(host: Host, request: SystemRequest): unknown {
  switch (request.op) {
    case "launch":
      // `alive` is false when the service exited inside its own start function.
      return host.launch(request.name, request.args, { restarts: request.restarts ?? 0, memo: request.memo ?? {} }).then((handle) => ({ handle, alive: host.services.has(handle) }));
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
