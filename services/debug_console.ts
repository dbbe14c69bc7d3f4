/**
 * The debug console (skynet's service/debug_console.lua): a text console over TCP for looking
 * at and steering a running node. Start it from a service (skynet: newservice("debug_console", 8000)):
 *
 * @example
 * const console = await svc.newService("debug_console", 8000);   // 0: any free port
 * const { port } = await svc.call(console, "address");
 * // $ nc 127.0.0.1 8000      then: list, stat, mem, call :01000005 get "k", help ...
 * // $ curl http://127.0.0.1:8000/stat                    (commands that only read: GET)
 * // $ curl -X POST -H 'X-Weft-Console: 1' http://127.0.0.1:8000/kill/:0100000a   (the others)
 *
 * Launch arguments: `port`, then the address to bind (default 127.0.0.1: the console can
 * kill services and call any command, so it must not face a network unless you mean it).
 *
 * `exit address` ends a service after the messages already in its mailbox (skynet's debug
 * EXIT, which the service handles in turn); `kill address` ends it at once (skynet.kill).
 * The protocol, the HTTP form, who may run what over HTTP and the deadlines are described in
 * console/server.ts, console/http.ts, console/commands.ts and console/ask.ts; `help` lists the
 * commands. `start` takes only names found in servicePath (the runtime refuses paths and URLs).
 */
import { defineService } from "weft";
import { consoleCommands } from "./console/commands.js";
import { listenConsole } from "./console/server.js";

export default defineService(async (svc, port: number | string, address?: string | null) => {
  const portNumber = Number(port);
  if (port === undefined || port === "" || !Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw new RangeError(`debug_console needs a port from 0 to 65535 (0: any free port), not ${String(port)}`);
  }
  const commands = consoleCommands(svc);
  const server = await listenConsole({ host: address || "127.0.0.1", port: portNumber, run: commands.run, access: commands.access, log: (text) => svc.log(text) });
  svc.onExit(() => server.close());
  svc.log(`Start debug console at ${server.address}:${server.port}`);

  return {
    /** Where the console listens: learns the port when it was started with port 0. */
    address(): { address: string; port: number } {
      return { address: server.address, port: server.port };
    },
  };
});
