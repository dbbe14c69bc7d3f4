/**
 * The first service of the example (config `start`), as skynet's examples/main.lua: the debug
 * console, simpledb and the watchdog, which opens the gate or gates named by config `gate`:
 * "gate" (TCP, netpack framing, on `port`; the default), "wsgate" (websocket, on `wsport`), or
 * both, `["gate", "wsgate"]`. With the websocket gate, the `web` service serves the browser
 * client (examples/web/) on port `web`, unless `web` is false. Connect with `npm run client`
 * or open the page.
 *
 * Every service it starts is `permanent` (supervision starts it again if it ends or is lost
 * with its worker), and so is main itself (examples/config.json: startRestart).
 */
import { ConfigError, defineService } from "weft";
import type SimpleDb from "./simpledb.js";
import type Watchdog from "./watchdog.js";
import type { GateKind } from "./watchdog.js";
import type Web from "./web.js";

/** Config `gate` as a list of gate kinds; anything else is a config error that names the key. */
export function gateKinds(value: unknown): GateKind[] {
  const kinds = value === undefined ? ["gate"] : Array.isArray(value) ? value : [value];
  const valid = kinds.length > 0 && kinds.every((k) => k === "gate" || k === "wsgate") && new Set(kinds).size === kinds.length;
  if (!valid) throw new ConfigError(`config "gate" must be "gate", "wsgate" or ["gate", "wsgate"], not ${JSON.stringify(value)}`);
  return kinds as GateKind[];
}

export default defineService(async (svc) => {
  const kinds = gateKinds(svc.getenv("gate"));
  // Started again by supervision (config startRestart: "permanent"): what it started is
  // supervised on its own, still running or restarted by now; booting again would start twins.
  if (svc.restarts > 0) {
    svc.log(`main restarted (${svc.restarts}); the services it started are supervised on their own`);
    return {};
  }
  svc.log("Server start");
  const permanent = { restart: "permanent" } as const;
  await svc.newServiceWith(permanent, "debug_console", svc.getenv<number>("console") ?? 8000, svc.getenv<string>("consoleAddress") ?? "127.0.0.1");
  await svc.newServiceWith<typeof SimpleDb>({ ...permanent, unique: true }, "simpledb");
  const watchdog = await svc.newServiceWith<typeof Watchdog>(permanent, "watchdog");
  for (const gate of kinds) {
    const port = gate === "wsgate" ? (svc.getenv<number>("wsport") ?? 8889) : (svc.getenv<number>("port") ?? 8888);
    const bound = await svc.call(watchdog, "start", { gate, port, maxclient: 64, nodelay: true });
    if (gate === "gate") {
      svc.log(`Watchdog listen on ${bound.address}:${bound.port}`);
      continue;
    }
    svc.log(`Watchdog listen on ws://${bound.address}:${bound.port}`);
    const web = svc.getenv<number | false>("web") ?? 8080;
    // The page is told the websocket gate's real port (it may have been 0: any free one).
    if (web !== false) await svc.newServiceWith<typeof Web>(permanent, "web", { port: web, address: bound.address, wsport: bound.port });
  }
  return {};
});
