/**
 * The ready gate (skynet's service/gate.lua), built on the gateserver template. The watchdog
 * opens it, hears `socket open|close|error|warning|data` about each connection, and either
 * forwards a connection to an agent (its packets then go to the agent as the `client`
 * protocol, raw bytes, from the address given as `client`) or accepts it (packets go to the
 * watchdog as `socket data`). Agents live on other workers and cannot touch the socket:
 * they answer with the `write` command.
 */
import { defineService, gateserver, type Handle } from "weft";

interface Client {
  fd: number;
  addr: string;
  /** Where packets go; undefined: to the watchdog. */
  agent?: Handle;
  /** The source address packets appear to come from (skynet's `client`). */
  client: Handle;
}

export default defineService(
  gateserver((svc, gate) => {
    let watchdog: Handle | undefined;
    const clients = new Map<number, Client>();
    const tellWatchdog = (...args: unknown[]) => {
      if (watchdog !== undefined) svc.send(watchdog, "socket", ...args);
    };

    return {
      open(source, conf) {
        watchdog = typeof conf.watchdog === "number" ? conf.watchdog : source;
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
      disconnect(fd) {
        clients.delete(fd);
        tellWatchdog("close", fd);
      },
      error(fd, message) {
        clients.delete(fd);
        tellWatchdog("error", fd, message);
      },
      warning(fd, sizeKB) {
        tellWatchdog("warning", fd, sizeKB);
      },
      command: {
        /** Sends fd's packets to `address` (default: the caller) as the client protocol, from `client`. */
        forward(fd: number, client?: Handle, address?: Handle): boolean {
          const c = clients.get(fd);
          if (!c) return false;
          c.agent = address ?? svc.source;
          c.client = client ?? 0;
          gate.openclient(fd);
          return true;
        },
        /** Sends fd's packets to the watchdog as `socket data`. */
        accept(fd: number): boolean {
          const c = clients.get(fd);
          if (!c) return false;
          c.agent = undefined;
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
      },
    };
  }),
);
