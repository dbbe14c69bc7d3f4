/**
 * The ready gate (skynet's service/gate.lua) over any gate template: the TCP `gateserver` or
 * the websocket `wsgateserver` (or a user's own with the same shape). services/gate.ts and
 * services/wsgate.ts are each `defineService(gateService(template))`, so both gates answer the
 * same commands and tell the watchdog the same things; an agent cannot tell which one it is
 * behind.
 *
 * The watchdog opens the gate, hears `socket open|close|error|warning|data` about each
 * connection, and either forwards a connection to an agent (its packets then go to the agent as
 * the `client` protocol, raw bytes, from the address given as `client`) or accepts it (packets
 * go to the watchdog as `socket data`). Agents live on other workers and cannot touch the
 * socket: they answer with the `write` command.
 *
 * A connection is not read while the service its packets go to is loaded past `inboundMark`
 * (an `open` option; default 1024 messages waiting or running), and is read again once that
 * service is back to half of it (lib/inbound.ts): a client cannot fill its agent's mailbox.
 *
 * To add a command to both gates, add it to `gateCommands`: it sees the gate (write, close,
 * openclient), the table of clients (who owns each fd) and the inbound guard.
 */
import type { Service } from "../runtime/context.js";
import { defaults } from "../runtime/defaults.js";
import type { Handle } from "../runtime/handle.js";
import type { Gate, GateHandler } from "./gateserver.js";
import { inboundGuard, type InboundGuard } from "./inbound.js";

/** What the gate knows about one connection. */
export interface GateClient {
  fd: number;
  addr: string;
  /** Where packets go; undefined: to the watchdog. */
  agent?: Handle;
  /** The source address packets appear to come from (skynet's `client`). */
  client: Handle;
}

/**
 * A gate template: takes the handler's setup and gives a service start function whose command
 * table has at least `open`, `close` and `connections`. `gateserver` and `wsgateserver` are two.
 */
export type GateTemplate<Commands> = (setup: (svc: Service, gate: Gate) => GateHandler | Promise<GateHandler>) => (svc: Service) => Promise<Commands>;

/**
 * The start function of a ready gate built on `template`.
 *
 * @example
 * // services/gate.ts
 * export default defineService(gateService(gateserver));
 */
export function gateService<Commands>(template: GateTemplate<Commands>): (svc: Service) => Promise<Commands> {
  return template((svc, gate) => {
    /** A handle, or a name (`.watchdog`): a watchdog restarted by supervision keeps its name, not its handle. */
    let watchdog: Handle | string | undefined;
    let inboundMark: number = defaults.overload;
    const clients = new Map<number, GateClient>();
    const inbound = inboundGuard((addr, mark, onChange) => svc.watchMailbox(addr, mark, onChange), gate, () => inboundMark);
    const tellWatchdog = (...args: unknown[]) => {
      if (watchdog !== undefined) svc.send(watchdog, "socket", ...args);
    };

    return {
      open(source, conf) {
        watchdog = typeof conf.watchdog === "number" || typeof conf.watchdog === "string" ? conf.watchdog : source;
        // The template has checked it and put the default in.
        inboundMark = conf.inboundMark ?? defaults.overload;
      },
      connect(fd, addr) {
        clients.set(fd, { fd, addr, client: 0 });
        tellWatchdog("open", fd, addr);
      },
      message(fd, msg) {
        const c = clients.get(fd);
        if (c?.agent !== undefined) svc.redirect(c.agent, c.client, "client", msg);
        else tellWatchdog("data", fd, msg);
      },
      disconnect(fd, reason) {
        clients.delete(fd);
        inbound.drop(fd);
        // A reset says which: the watchdog may want to know, and it is still a close.
        if (reason === undefined) tellWatchdog("close", fd);
        else tellWatchdog("close", fd, reason);
      },
      error(fd, message) {
        clients.delete(fd);
        inbound.drop(fd);
        tellWatchdog("error", fd, message);
      },
      warning(fd, sizeKB) {
        tellWatchdog("warning", fd, sizeKB);
      },
      command: gateCommands(svc, gate, clients, inbound, () => watchdog),
    };
  });
}

/** The commands a ready gate adds to its template's `open`, `close` and `connections`. */
function gateCommands(svc: Service, gate: Gate, clients: Map<number, GateClient>, inbound: InboundGuard, watchdog: () => Handle | string | undefined) {
  return {
    /** Sends fd's packets to `address` (default: the caller) as the client protocol, from `client`. */
    forward(fd: number, client?: Handle, address?: Handle): boolean {
      const c = clients.get(fd);
      if (!c) return false;
      const agent = address ?? svc.source ?? 0;
      c.agent = agent;
      c.client = client ?? 0;
      inbound.route(fd, agent);
      gate.openclient(fd);
      return true;
    },
    /** Sends fd's packets to the watchdog as `socket data`. */
    async accept(fd: number): Promise<boolean> {
      if (!clients.has(fd)) return false;
      // The load that counts is the watchdog's: a name is looked up now (it may have restarted).
      const wd = watchdog();
      const target = typeof wd === "string" ? await svc.queryName(wd) : wd;
      const c = clients.get(fd);
      if (!c) return false;
      c.agent = undefined;
      if (target !== undefined) inbound.route(fd, target);
      gate.openclient(fd);
      return true;
    },
    /** Closes fd (after what was written to it is sent). */
    kick(fd: number): void {
      gate.closeclient(fd);
    },
    /** The write path: one packet to fd. */
    write(fd: number, data: Uint8Array | string): boolean {
      return gate.write(fd, data);
    },
    /** Several packets to fd in one message. */
    writev(fd: number, packets: (Uint8Array | string)[]): boolean {
      return gate.writev(fd, packets);
    },
    /** One packet to many connections (lib/group's broadcast): answers with the fds it no longer has. */
    multiwrite(fds: number[], data: Uint8Array | string): number[] {
      return gate.writeMany(fds, data);
    },
    /** The services whose load the gate watches for its connections, and how many are past inboundMark now. */
    inbound(): { targets: number; full: number } {
      return inbound.watched();
    },
  };
}
