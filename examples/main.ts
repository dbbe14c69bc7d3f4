/**
 * The first service of the example (config `start`), as skynet's examples/main.lua: the debug
 * console, simpledb and the watchdog, which opens the gate. Connect with `npm run client`.
 */
import { defineService } from "weft";
import type SimpleDb from "./simpledb.js";
import type Watchdog from "./watchdog.js";

export default defineService(async (svc) => {
  svc.log("Server start");
  await svc.newService("debug_console", svc.getenv<number>("console") ?? 8000, svc.getenv<string>("consoleAddress") ?? "127.0.0.1");
  await svc.uniqueService<typeof SimpleDb>("simpledb");
  const watchdog = await svc.newService<typeof Watchdog>("watchdog");
  const { address, port } = await svc.call(watchdog, "start", { port: svc.getenv<number>("port") ?? 8888, maxclient: 64, nodelay: true });
  svc.log(`Watchdog listen on ${address}:${port}`);
});
