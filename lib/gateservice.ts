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
 * socket: they answer on the gate's reply lane, a one-way `client` message whose session is the
 * fd (`svc.redirect(gate, svc.self, "client", bytes, fd)`, or `clientWriter` in gatekit): no
 * command string and no argument list per packet. The gate takes a lane packet only from the
 * fd's agent or the watchdog; one for an fd that is gone is dropped, as a `write` to it would
 * write nothing. The `write` command stays, for anyone who has a handle on the gate.
 *
 * The other way, each packet reaches its agent the same way skynet's gate sends it: the
 * `client` protocol, from `client`, with the fd as its session (the handler's third argument).
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
import { UsageError } from "../runtime/errors.js";
import { formatHandle, type Handle } from "../runtime/handle.js";
import type { Gate, GateHandler } from "./gateserver.js";
import { inboundGuard, type InboundGuard } from "./inbound.js";
import { rateLimitedLog } from "./ratelog.js";

/** The answer to a call on the reply lane, made once: the lane is one-way, and the packets are many. */
const LANE_IS_ONE_WAY = new UsageError("the gate's client lane takes one-way messages (svc.redirect with the fd as session), not calls");

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
    installReplyLane(svc, gate, clients, () => watchdog);

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
        // The fd rides in the session, one-way (skynet's gate: redirect(agent, client, "client", fd, msg)).
        if (c?.agent !== undefined) svc.redirect(c.agent, c.client, "client", msg, fd);
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

/**
 * The reply lane: a `client` message with the fd as its session is one packet for that fd. Only
 * the fd's agent (where `forward` sends its packets) or the watchdog may write through it; a
 * packet from anyone else is dropped and logged (rate-limited: a misbehaving service can send
 * any number), one for an fd that is gone is dropped without a word (the connection closed
 * while its agent was answering: nothing to report). Calls are refused: the session of a call
 * is not an fd.
 */
function installReplyLane(svc: Service, gate: Gate, clients: Map<number, GateClient>, watchdog: () => Handle | string | undefined): void {
  const refusals = rateLimitedLog((line) => svc.log(line));
  svc.onExit(() => refusals.flush());
  /** The watchdog's handle when it is known by name, looked up on the first packet it sends. */
  let named: { name: string; handle: Handle | undefined } | undefined;

  /**
   * Whether `source` is the watchdog, told now when it can be (so its packets stay in order with
   * its commands, a `kick` after a farewell, say); undefined when the name must be looked up.
   */
  const knownWatchdog = (source: Handle): boolean | undefined => {
    const wd = watchdog();
    if (typeof wd !== "string") return wd === source;
    return named?.name === wd && named.handle === source ? true : undefined;
  };
  /** A watchdog restarted by supervision keeps its name, not its handle: look again on a miss. */
  const lookUpWatchdog = async (source: Handle): Promise<boolean> => {
    const wd = watchdog();
    if (typeof wd !== "string") return wd === source;
    named = { name: wd, handle: await svc.queryName(wd) };
    return named.handle === source;
  };

  const refuse = (fd: number, source: Handle): void =>
    refusals.line("lane", `gate: a packet for fd ${fd} from ${formatHandle(source)}, which is neither its agent nor the watchdog: dropped`);
  /** A packet the gate cannot frame (too large) is the sender's bug: said, at a bounded rate. */
  const write = (fd: number, packet: Uint8Array | string, source: Handle): void => {
    try {
      gate.write(fd, packet);
    } catch (err) {
      refusals.line("lane refused", `gate: a packet for fd ${fd} from ${formatHandle(source)} refused: ${(err as Error).message}`);
    }
  };

  svc.dispatch("client", (packet: Uint8Array | string, source: Handle, fd: number): unknown => {
    if (svc.isCall) throw LANE_IS_ONE_WAY;
    const c = clients.get(fd);
    if (c === undefined) return;
    if (c.agent === source) {
      write(fd, packet, source);
      return;
    }
    // Rare: the watchdog writing to a connection (or a stray sender).
    const known = knownWatchdog(source);
    if (known === true) write(fd, packet, source);
    else if (known === false) refuse(fd, source);
    if (known !== undefined) return;
    return lookUpWatchdog(source).then((ok) => {
      if (!ok) refuse(fd, source);
      else if (clients.has(fd)) write(fd, packet, source);
    });
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
