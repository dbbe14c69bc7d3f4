/**
 * The echo server (the benchmark target): a watchdog, a gate, one agent per connection that
 * writes every packet back. `weft examples/echo/config.json port=12000 maxclient=5000`.
 */
import { defineService } from "weft";
import type Watchdog from "./watchdog.js";

export default defineService(async (svc) => {
  const watchdog = await svc.newService<typeof Watchdog>("watchdog");
  const { address, port } = await svc.call(watchdog, "start", {
    address: svc.getenv<string>("address") ?? "127.0.0.1",
    port: svc.getenv<number>("port") ?? 9999,
    maxclient: svc.getenv<number>("maxclient") ?? 1024,
    // A burst of connections must not overflow the kernel's accept queue.
    backlog: Math.max(511, svc.getenv<number>("maxclient") ?? 1024),
    nodelay: true,
  });
  svc.log(`Echo server listening on ${address}:${port}`);
});
