/**
 * The piscina task that turns a worker thread into a host. It runs for the life of the worker:
 * one task per worker, resolved only at shutdown.
 */
import createDebug from "debug";
import { getHeapStatistics } from "node:v8";
import { hostHandle, type Handle } from "./handle.js";
import { Host } from "./host.js";
import { Stamp } from "./monitor.js";
import type { Link } from "./transport.js";
import { PROTO, type Control, type SystemRequest } from "./protocol.js";

const trace = createDebug("weft:host");

export interface HostTask {
  slot: number;
  /** One link per other live slot (0 is the kernel), keyed by slot. */
  links: Record<number, Link>;
  counters: SharedArrayBuffer;
  doorbells: SharedArrayBuffer;
  stamps: SharedArrayBuffer;
  servicePath: string[];
  env: Record<string, unknown>;
  names: Record<string, Handle>;
  startTime: number;
}

export default async function hostTask(task: HostTask): Promise<number> {
  const host = new Host({
    slot: task.slot,
    counters: new Int32Array(task.counters),
    doorbells: new Int32Array(task.doorbells),
    servicePath: task.servicePath,
    env: task.env,
    names: task.names,
    startTime: task.startTime,
    stamp: new Stamp(task.stamps, task.slot),
  });
  for (const [slot, link] of Object.entries(task.links)) host.transport.attach(Number(slot), link);

  const finished = new Promise<void>((resolve) => {
    host.onControl = (message: Control) => {
      switch (message.control) {
        case "up":
          host.transport.attach(message.slot, message.link as Link);
          break;
        case "down":
          host.transport.detach(message.slot);
          host.failCallsTo(message.slot, message.reason);
          break;
        case "shutdown":
          resolve();
          break;
      }
    };
  });
  host.onSystem((request) => answer(host, request));
  host.post(hostHandle(0), host.system.handle, 0, PROTO.system, "", { op: "ready", slot: task.slot });
  trace("slot %d: ready", task.slot);

  await finished;
  host.transport.close();
  trace("slot %d: stopped", task.slot);
  return task.slot;
}

/** What a worker's system endpoint answers: the launcher, the console and the kernel ask these. */
function answer(host: Host, request: SystemRequest): unknown {
  switch (request.op) {
    case "launch":
      // `alive` is false when the service exited inside its own start function.
      return host.launch(request.name, request.args).then((handle) => ({ handle, alive: host.services.has(handle) }));
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
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      return gc !== undefined;
    }
    case "names":
      for (const [name, handle] of Object.entries(request.set ?? {})) host.names.set(name, handle);
      for (const name of request.drop ?? []) host.names.delete(name);
      return true;
    case "env":
      host.setenv(request.key, request.value);
      return true;
    case "shutdown":
      return shutdown(host, request.keep);
    default:
      throw new Error(`worker ${host.slot} does not answer system request "${request.op}"`);
  }
}

/**
 * Ends this worker's services, then makes sure the logger has handled every line they logged:
 * its answer comes back behind them on the same ring, so the kernel may stop it after this.
 */
async function shutdown(host: Host, keep: Handle[]): Promise<void> {
  await host.exitAll("shutdown", keep);
  const logger = host.names.get(".logger");
  if (logger !== undefined) await host.system.ctx.call(logger, "flush").catch(() => undefined);
}
