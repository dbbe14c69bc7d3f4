/**
 * What keeps one bad service from taking its worker's neighbours down. By default Node ends a
 * worker thread on an unhandled promise rejection or an exception thrown outside any handler
 * (a raw setTimeout, a socket's event listener): every service on that worker would be lost.
 * Here both are logged, with the service's address where it can be known, and the worker
 * keeps running.
 *
 * "Where it can be known": a rejection is reported after the microtasks that could have
 * handled it, so the code that made it has long returned; what is certain is which service's
 * message the thread ran last, and the log line says so in those words.
 */
import { formatHandle } from "./handle.js";
import type { Host } from "./host.js";

export function containFaults(host: Host): void {
  const report = (what: string, err: unknown) => {
    const last = host.stamp?.lastDest;
    const service = last === undefined ? undefined : host.services.get(last);
    const where = service ? `last ran ${service.address} (${service.name})` : last === undefined ? "no service had run yet" : `last ran ${formatHandle(last)}, now gone`;
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    host.log(last ?? host.system.handle, `${what} on worker ${host.slot} (${where}); the worker keeps running: ${text}`);
  };
  process.on("unhandledRejection", (reason) => report("unhandled promise rejection", reason));
  process.on("uncaughtException", (err) => report("uncaught exception outside any handler", err));
}
