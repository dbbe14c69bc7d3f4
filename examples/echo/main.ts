/**
 * The echo server (the benchmark target): a watchdog, a gate, one agent per connection that
 * writes every packet back. `weft examples/echo/config.json port=12000 maxclient=5000`.
 *
 * The gate's bounds can be set from the command line too (bench/flood.ts does):
 * `listeners` (listening descriptors, default 64), `backlog` (the listen backlog, default maxclient),
 * `inboundMark` (messages an agent may have waiting before its client is not read),
 * `backlogLimit` (bytes), `timeout` (seconds), `rate` and `burst` (packets per second per
 * connection, and at once).
 */
import { defineService, type GateConf } from "weft";
import type Watchdog from "./watchdog.js";

/** The config keys passed on to the gate's `open` as they are, when set. */
const BOUNDS = ["inboundMark", "backlogLimit", "timeout", "rate", "burst", "backlog"] as const;

/**
 * Listening descriptors of the gate (config `listeners`): enough that a crowd of thousands
 * arriving at once is let in while the gate serves the first of them (README, "Accepting under load").
 */
const LISTENERS = 64;

export default defineService(async (svc) => {
  const watchdog = await svc.newService<typeof Watchdog>("watchdog");
  const bounds: GateConf = {};
  for (const key of BOUNDS) {
    const value = svc.getenv<number>(key);
    if (value !== undefined) bounds[key] = value;
  }
  const { address, port } = await svc.call(watchdog, "start", {
    address: svc.getenv<string>("address") ?? "127.0.0.1",
    port: svc.getenv<number>("port") ?? 9999,
    maxclient: svc.getenv<number>("maxclient") ?? 1024,
    listeners: svc.getenv<number>("listeners") ?? LISTENERS,
    nodelay: true,
    ...bounds,
  });
  svc.log(`Echo server listening on ${address}:${port}`);
});
