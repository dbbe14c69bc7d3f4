/**
 * The gate server template (skynet's snax.gateserver): a TCP listener that frames each
 * connection's bytes into netpack packets and hands them to a handler. A gate service is
 * `defineService(gateserver((svc, gate) => handler))`; the template owns the commands `open`
 * and `close` (and `connections` and `stats`, for the console's netstat) and adds the handler's
 * `command`s.
 *
 * `fd` is a connection id (1, 2, ... for this gate's life), not an OS descriptor. Nothing is
 * read from a connection before `gate.openclient(fd)`: the socket stays paused, so a client's
 * bytes wait in the kernel until someone (an agent) is ready for them.
 *
 * A turn of the event loop goes: read every socket that is ready, hand the packets to the
 * handler together (the services they wake run in one scheduler tick), then write what each
 * connection was given, in one write per connection.
 *
 * What bounds a connection (lib/gateconnections.ts): it is not read while its unsent backlog is
 * past 1 MiB, while the handler holds it (gate.pauseclient: the ready gate does while the
 * service its packets go to is loaded past `inboundMark`), or while it is over its `rate`; past
 * `backlogLimit` it is cut.
 */
import createDebug from "debug";
import { createServer, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Service } from "../runtime/context.js";
import type { CommandTable } from "../runtime/define.js";
import { defaults } from "../runtime/defaults.js";
import type { Handle } from "../runtime/handle.js";
import { backlogState } from "./backlog.js";
import { cutPackets, dropPartial, type Partials } from "./framing.js";
import { connectionTable, ordinaryDisconnect, type ConnectionState, type PauseReason } from "./gateconnections.js";
import { CLOSE_GRACE_MS, cutAfterGrace, gateConf, listenerCommands, packetBytes, peerOf, writeMethods } from "./gatekit.js";
import * as netpack from "./netpack.js";

const trace = createDebug("weft:gate");

/** A native microtask (see runtime/scheduler). */
const resolved = Promise.resolve();

/** How often the end after a client's FIN looks whether its rate-limited packets have all gone. */
const RATE_WAIT_LOOK_MS = 20;

export interface GateConf {
  /** Default 127.0.0.1. */
  address?: string;
  /** Default 0: any free port; `open` answers with the real one. */
  port?: number;
  /** Connections served at once; one more is closed at once. Default 1024. */
  maxclient?: number;
  /** TCP_NODELAY on every connection. */
  nodelay?: boolean;
  /**
   * The listen backlog: connections the kernel holds for the gate to accept. Default `maxclient`
   * (at least Node's 511); the kernel caps it at net.core.somaxconn (4096 on most Linux).
   */
  backlog?: number;
  /**
   * Listening descriptors on the one socket (TCP gate; default 1). Node accepts one connection
   * per descriptor each time its event loop comes round to it, and a gate serving thousands of
   * busy connections comes round a few times a second: with `listeners: 64` it accepts 64 per
   * round, so a crowd is let in while the gate serves. Each extra descriptor is made once, at
   * `open`, through a short-lived child process (see lib/gatekit.ts).
   */
  listeners?: number;
  /** Seconds without a packet before a connection is closed; 0 (default) never. */
  timeout?: number;
  /** Unsent bytes past which a connection is closed. Default 64 MiB. */
  backlogLimit?: number;
  /**
   * The ready gate (services/gate, services/wsgate): a connection is not read while the service
   * its packets go to (its agent, or the watchdog) has this many messages waiting or running;
   * reading resumes at half of it. Default `defaults.overload` (1024).
   */
  inboundMark?: number;
  /** Packets per second a connection may send on average; past it the gate stops reading it for a while. Default: no limit. */
  rate?: number;
  /** Packets a connection may send at once under `rate`. Default: one second's worth. */
  burst?: number;
  [key: string]: unknown;
}

export interface GateHandler {
  /** After the listener is up: `source` asked for it (the watchdog). */
  open?(source: Handle, conf: GateConf): unknown;
  connect?(fd: number, addr: string): unknown;
  /**
   * The client closed, or closeclient(fd) finished. `reason` is the code when the client went
   * with an ordinary disconnect error (ECONNRESET, EPIPE, ETIMEDOUT): a disconnect, not an error.
   */
  disconnect?(fd: number, reason?: string): unknown;
  /** Any other socket error, an idle timeout or a backlog over the limit; the connection is gone. */
  error?(fd: number, message: string): unknown;
  /** One whole packet from fd. `msg` is this packet's own memory. */
  message(fd: number, msg: Buffer): unknown;
  /** Unsent backlog of fd in KiB: past 1 MiB, at each doubling, then 0 when drained. */
  warning?(fd: number, sizeKB: number): unknown;
  /** Extra commands of the gate service. */
  command?: CommandTable;
}

export interface ConnectionInfo {
  fd: number;
  peer: string;
  open: boolean;
  bytesIn: number;
  bytesOut: number;
  /** Bytes written and not yet fully sent (this turn's packets and Node's writableLength). */
  backlog: number;
}

/**
 * What the handler can do to connections. Written bytes are read when the turn ends (as
 * `socket.write` holds a buffer until it is sent): do not change a buffer after writing it.
 */
export interface Gate {
  /** Lets fd's packets flow (to `message`). */
  openclient(fd: number): void;
  /**
   * Stops reading fd for `reason` until `resumeclient(fd, reason)`. Reasons are independent (the
   * gate itself holds connections for "rate" and "backlog"): fd is read when it is open and
   * held for none. What was read already is still delivered.
   */
  pauseclient(fd: number, reason: PauseReason): void;
  resumeclient(fd: number, reason: PauseReason): void;
  /** Closes fd once what was written to it is sent. */
  closeclient(fd: number): void;
  /** Writes one packet (netpack header added); false if fd is gone. Over 65535 bytes throws. */
  write(fd: number, payload: Uint8Array | string): boolean;
  /** Writes several packets, all or none: one over 65535 bytes throws before any is written. */
  writev(fd: number, payloads: (Uint8Array | string)[]): boolean;
  /**
   * Writes one packet to each of `fds` (its size checked once); answers the fds that are gone.
   * A packet over the limit throws before anything is written.
   */
  writeMany(fds: number[], payload: Uint8Array | string): number[];
  connection(fd: number): ConnectionInfo | undefined;
  connections(): ConnectionInfo[];
}

interface Connection extends ConnectionState {
  socket: Socket;
  /** Packets written this turn: framed together and written once when the turn ends. */
  staged: Uint8Array[];
  /** Their size on the wire, headers included. */
  stagedBytes: number;
}

const destroySocket = (socket: Socket): void => void socket.destroy();
const dropChunk = (): void => {};

export function gateserver<Args extends unknown[]>(setup: (svc: Service, gate: Gate, ...args: Args) => GateHandler | Promise<GateHandler>) {
  return async (svc: Service, ...args: Args) => {
    /** Each connection's packet cut short by the end of a read. */
    const partials: Partials = new Map();
    let conf = gateConf<GateConf>({});
    let nextFd = 0;

    const table = connectionTable<Connection>(svc, "gate", {
      pause: (c) => c.socket.pause(),
      resume: (c) => c.socket.resume(),
      unsent: (c) => c.socket.writableLength + c.stagedBytes,
      deliver: (c, msg) => receive(c, msg),
      cut: (c) => c.socket.destroy(),
    });
    const { connections, safely } = table;

    /** Ends fd at once with an error: the handler hears `error`, not `disconnect`. */
    const fail = (c: Connection, message: string): void => {
      if (table.fail(c, message, "error")) c.socket.destroy();
    };

    const gate: Gate = {
      closeclient(fd) {
        const c = connections.get(fd);
        if (c) endGracefully(c);
      },
      ...writeMethods((payload) => packetBytes(payload, defaults.packetMax, "a netpack frame"), (fd, packets) => send(fd, packets)),
      ...table.methods,
    };

    /**
     * Queues packets for fd. Everything written to a connection in one turn is framed into one
     * buffer and written once when the turn ends (skynet's gate writes in one pass of its loop
     * too): one stream write and one system call instead of one per packet. Writing in one burst
     * also makes each write cheaper: the first wakes the client, the rest find it awake.
     */
    const send = (fd: number, payloads: Uint8Array[]): boolean => {
      const c = connections.get(fd);
      // After closeclient (end) nothing more may be written: Node would fail the socket.
      if (!c || c.failed || c.socket.destroyed || c.socket.writableEnded) return false;
      if (c.staged.length === 0) {
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(flushAll);
        }
        dirty.push(c);
      }
      for (const payload of payloads) {
        // A warning handler may have failed or closed the connection in the middle of a writev.
        if (c.failed || c.socket.writableEnded) return false;
        c.staged.push(payload);
        c.stagedBytes += 2 + payload.length;
        c.bytesOut += 2 + payload.length;
        table.checkBacklog(c);
      }
      return !c.failed;
    };

    /** Connections with staged packets. */
    let dirty: Connection[] = [];
    /** A setImmediate flushAll is queued (deliverAll queues its own microtask one regardless). */
    let flushQueued = false;
    const flushAll = (): void => {
      flushQueued = false;
      const list = dirty;
      dirty = [];
      for (const c of list) flush(c);
    };

    const flush = (c: Connection): void => {
      if (c.staged.length > 0) {
        const packets = c.staged;
        c.staged = [];
        c.stagedBytes = 0;
        if (c.failed || c.socket.destroyed || c.socket.writableEnded) return;
        c.socket.write(netpack.packMany(packets));
        // The kernel may have taken it all at once: then no 'drain' comes, and this is the drain.
        table.checkBacklog(c);
      }
    };

    /**
     * Ends c once what was written to it is sent; a client that stopped reading would keep the
     * socket forever, so it gets a generous while, then is cut off.
     */
    const endGracefully = (c: Connection): void => {
      flush(c);
      if (c.socket.writableEnded) return;
      c.socket.end();
      cutAfterGrace(c.socket, destroySocket);
      // The socket closes once the client's FIN is read: read on, whatever held the connection
      // (not opened yet, an agent behind, a backlog), and drop what comes after the end.
      c.socket.removeAllListeners("data");
      c.socket.on("data", dropChunk);
      c.socket.resume();
    };

    /**
     * The packets read in this turn, as connection, packet pairs. They reach the handler
     * together once every ready socket has been read (setImmediate: the loop's check phase), so
     * the services they wake run in one scheduler tick instead of one per socket, and their
     * answers are written in one pass right after.
     */
    let inbox: (Connection | Buffer)[] = [];
    /** The gate service is exiting: no more packets reach the handler. */
    let stopped = false;

    const receive = (c: Connection, msg: Buffer): void => {
      if (stopped) return;
      if (inbox.length === 0) setImmediate(deliverAll);
      inbox.push(c, msg);
    };

    const deliverAll = (): void => {
      const list = inbox;
      if (list.length === 0 || stopped) return;
      inbox = [];
      const handler = table.handler;
      for (let i = 0; i < list.length; i += 2) {
        const c = list[i] as Connection;
        const msg = list[i + 1] as Buffer;
        // A connection that failed meanwhile took its packets with it (its handler heard `error`).
        if (!c.failed) safely("message", () => handler.message(c.fd, msg));
      }
      // The services those packets woke run in the microtask the first of them queued; this
      // one comes after it, so what they wrote goes out in this turn. (A flush queued earlier
      // as a setImmediate may already be behind this phase: it would find nothing left.)
      void resolved.then(flushAll);
    };

    /**
     * The client sent FIN (the server is half-open, so Node does not end this side by itself).
     * What it sent reaches the handler; the gate ends its side once a whole turn of the event
     * loop passes with nothing new written to the connection (or after CLOSE_GRACE_MS), so the
     * answers its agents are still working on go out first, even when the scheduler had to
     * yield. What is written after that is refused, as after closeclient.
     */
    const peerEnd = (c: Connection): void => {
      deliverAll();
      const deadline = performance.now() + CLOSE_GRACE_MS;
      // At least one turn: the services this delivery woke have not run yet.
      let written = -1;
      const endWhenQuiet = (): void => {
        if (c.failed || c.socket.destroyed || c.socket.writableEnded) return;
        // Packets held back by the rate limit are still to be answered: look again in a while.
        if (table.waiting(c) > 0 && performance.now() < deadline) {
          setTimeout(endWhenQuiet, RATE_WAIT_LOOK_MS);
          return;
        }
        if (c.bytesOut !== written && performance.now() < deadline) {
          written = c.bytesOut;
          setImmediate(endWhenQuiet);
          return;
        }
        endGracefully(c);
      };
      setImmediate(endWhenQuiet);
    };

    const accept = (socket: Socket): void => {
      if (connections.size >= conf.maxclient) {
        trace("maxclient %d reached: refusing %s", conf.maxclient, socket.remoteAddress);
        table.refused();
        socket.destroy();
        return;
      }
      const fd = ++nextFd;
      // One literal with every field (not a spread of a shared part plus these): fields added
      // after a spread live outside the object, and the hot ones are read on every packet.
      const c: Connection = {
        fd,
        socket,
        peer: peerOf(socket),
        open: false,
        bytesIn: 0,
        bytesOut: 0,
        backlog: backlogState(),
        staged: [],
        stagedBytes: 0,
        failed: false,
        held: 0,
        bucket: table.bucket(),
        waiting: undefined,
        refill: undefined,
        resetBy: undefined,
        idle: undefined,
      };
      table.admit(c);
      if (conf.nodelay) socket.setNoDelay(true);
      // Chosen once: a gate without a rate limit pays nothing for it per packet.
      const take = c.bucket === undefined ? (msg: Buffer): void => receive(c, msg) : (msg: Buffer): void => table.limited(c, msg);
      socket.on("data", (chunk: Buffer) => {
        c.bytesIn += chunk.length;
        // Only a whole packet counts as life: a client trickling bytes must not hold a slot.
        if (cutPackets(partials, fd, chunk, take) > 0) c.idle?.refresh();
      });
      socket.on("end", () => peerEnd(c));
      socket.on("drain", () => table.checkBacklog(c));
      // What the client sent before an error or its close reaches the handler first. (A close
      // comes after the turn's packets anyway; an error can come in the same turn.)
      socket.on("error", (err) => {
        deliverAll();
        // A reset is the client going away: 'close' follows, and the handler hears `disconnect`.
        const reset = ordinaryDisconnect(err);
        if (reset === undefined) fail(c, err.message);
        else c.resetBy = reset;
      });
      socket.on("close", () => {
        deliverAll();
        dropPartial(partials, fd, "close");
        table.closed(c);
      });
      safely("connect", () => table.handler.connect?.(fd, c.peer));
    };

    table.handler = await setup(svc, gate, ...args);

    svc.onExit(() => {
      stopped = true;
      inbox = [];
      for (const c of connections.values()) c.socket.destroy();
    });

    return {
      ...table.handler.command,
      ...(await listenerCommands<GateConf>({
        svc,
        gateName: "gate",
        gate,
        handler: table.handler,
        safely,
        stats: () => table.stats(),
        configure: (options) => {
          conf = gateConf(options);
          table.configure({ timeout: conf.timeout, backlogLimit: conf.backlogLimit, rate: conf.rateLimit });
          // The same server again, for each extra listener (`listeners`).
          const another = () => createServer({ pauseOnConnect: true, noDelay: conf.nodelay === true, allowHalfOpen: true }, accept);
          return { conf, server: another(), another };
        },
      })),
    };
  };
}
