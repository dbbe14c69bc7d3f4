/**
 * What both gate templates (TCP gateserver, websocket wsgateserver) do the same way: keeping a
 * throwing handler from taking the gate down, checking a packet's size, the write methods and
 * openclient of `Gate`, failing a connection, reacting to its unsent backlog, describing it,
 * and listening.
 */
import createDebug from "debug";
import { Buffer } from "node:buffer";
import type { Server } from "node:net";
import type { Service } from "../runtime/context.js";
import { defaults } from "../runtime/defaults.js";
import { PacketTooLargeError } from "../runtime/errors.js";
import { backlogCheck, type BacklogState } from "./backlog.js";
import type { ConnectionInfo, Gate, GateConf, GateHandler } from "./gateserver.js";

const trace = createDebug("weft:gate");

/** How long a connection closed by the gate may take to send what it was given before it is cut. */
export const CLOSE_GRACE_MS = 10_000;

/** Runs a handler callback; what it throws (or rejects with) is logged, never propagated. */
export function containHandler(svc: Service, gateName: string): (what: string, fn: () => unknown) => void {
  const report = (what: string, err: unknown) => svc.log(`${gateName} handler ${what} failed: ${describe(err)}`);
  return (what, fn) => {
    try {
      const result = fn() as Promise<unknown> | undefined;
      if (result && typeof result.then === "function") result.then(undefined, (err: unknown) => report(what, err));
    } catch (err) {
      report(what, err);
    }
  };
}

/** A payload as the bytes of one packet (a string as UTF-8); over `limit`, PacketTooLargeError before anything is written. */
export function packetBytes(payload: Uint8Array | string, limit: number, of: string): Uint8Array {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (bytes.length > limit) throw new PacketTooLargeError(bytes.length, limit, of);
  return bytes;
}

/**
 * `write`, `writev` and `writeMany` of a gate, given how it checks a packet and how it sends
 * checked packets to one connection (false: the connection is gone). Every packet is checked
 * before any is sent, so a refused one leaves nothing half written.
 */
export function writeMethods(check: (payload: Uint8Array | string) => Uint8Array, send: (fd: number, packets: Uint8Array[]) => boolean): Pick<Gate, "write" | "writev" | "writeMany"> {
  return {
    write: (fd, payload) => send(fd, [check(payload)]),
    writev: (fd, payloads) => send(fd, payloads.map(check)),
    writeMany(fds, payload) {
      const packet = [check(payload)];
      return fds.filter((fd) => !send(fd, packet));
    },
  };
}

/** What a gate keeps of each connection, whatever carries it. */
export interface ConnectionState {
  fd: number;
  peer: string;
  open: boolean;
  bytesIn: number;
  bytesOut: number;
  backlog: BacklogState;
  /** Gone from the gate's view (an error, or the gate closed it for a reason): the handler heard `error`. */
  failed: boolean;
  idle?: NodeJS.Timeout;
}

export function connectionInfo(c: ConnectionState, unsent: number): ConnectionInfo {
  return { fd: c.fd, peer: c.peer, open: c.open, bytesIn: c.bytesIn, bytesOut: c.bytesOut, backlog: unsent };
}

/**
 * `openclient`, `connection` and `connections` of a gate, over its table of connections;
 * `resume` lets a connection's stream flow.
 */
export function connectionMethods<C extends ConnectionState>(
  connections: Map<number, C>,
  info: (c: C) => ConnectionInfo,
  resume: (c: C) => void,
): Pick<Gate, "openclient" | "connection" | "connections"> {
  return {
    openclient(fd) {
      const c = connections.get(fd);
      if (!c || c.open) return;
      c.open = true;
      resume(c);
    },
    connection(fd) {
      const c = connections.get(fd);
      return c && info(c);
    },
    connections: () => [...connections.values()].map(info),
  };
}

/**
 * What failing a connection means in every gate, before each cuts its own stream: once only
 * (false if c had failed already), gone from the table at once, and the handler hears `error`
 * now rather than at 'close'.
 */
export function markFailed<C extends ConnectionState>(
  connections: Map<number, C>,
  c: C,
  message: string,
  handler: GateHandler,
  safely: (what: string, fn: () => unknown) => void,
): boolean {
  if (c.failed) return false;
  c.failed = true;
  clearTimeout(c.idle);
  connections.delete(c.fd);
  trace("fd %d fails: %s", c.fd, message);
  safely("error", () => handler.error?.(c.fd, message));
  return true;
}

export const peerOf = (socket: { remoteAddress?: string; remotePort?: number }): string =>
  socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : "(gone)";

/**
 * Tells the handler about fd's unsent backlog (`unsent` bytes now): past 1 MiB and at each
 * doubling, 0 once drained; past `limit` the connection is failed instead of buffering more.
 */
export function reactToBacklog<C extends ConnectionState>(
  c: C,
  unsent: number,
  limit: number,
  handler: GateHandler,
  safely: (what: string, fn: () => unknown) => void,
  fail: (c: C, message: string) => void,
): void {
  if (c.failed) return;
  const action = backlogCheck(c.backlog, unsent, defaults.backlogWarning, limit);
  if (action.kind === "warn") safely("warning", () => handler.warning?.(c.fd, action.kib));
  else if (action.kind === "drained") safely("warning", () => handler.warning?.(c.fd, 0));
  else if (action.kind === "close") fail(c, `unsent backlog of ${action.bytes} bytes passed the limit of ${limit}`);
}

/** `open`'s settings every gate takes, checked, over what the gate had. */
export function gateConf<C extends GateConf>(options: C): C & Required<Pick<GateConf, "maxclient" | "timeout" | "backlogLimit">> {
  const maxclient = options.maxclient ?? defaults.maxclient;
  if (!Number.isInteger(maxclient) || maxclient < 1) throw new RangeError(`maxclient must be a positive integer, not ${String(options.maxclient)}`);
  return { ...options, maxclient, timeout: options.timeout ?? 0, backlogLimit: options.backlogLimit ?? defaults.backlogLimit };
}

/**
 * The commands every gate template owns: `open` (listen on a server the template makes from the
 * options; `configure` checks them and may throw before anything starts), `close` (stop
 * listening; connections stay) and `connections`. The listener closes when the service exits.
 */
export function listenerCommands<O extends GateConf>(
  svc: Service,
  gateName: string,
  gate: Gate,
  handler: GateHandler,
  safely: (what: string, fn: () => unknown) => void,
  configure: (options: O) => { conf: GateConf; server: Server },
) {
  let server: Server | undefined;
  let opening = false;
  svc.onExit(() => server?.close());
  return {
    /** Starts listening (skynet's gate `open`); answers with the address and the real port. */
    async open(options = {} as O): Promise<{ address: string; port: number }> {
      if (server || opening) throw new Error(`${gateName} ${svc.address} is already listening`);
      const source = svc.source ?? 0;
      const made = configure(options);
      opening = true;
      let bound: { address: string; port: number };
      try {
        bound = await listen(made.server, made.conf);
      } finally {
        opening = false;
      }
      made.server.on("error", (err) => svc.log(`${gateName} listener error: ${err.message}`));
      server = made.server;
      trace("%s %s listening on %s:%d", gateName, svc.address, bound.address, bound.port);
      safely("open", () => handler.open?.(source, made.conf));
      return bound;
    },
    /** Stops listening; connections already made stay. */
    close(): void {
      server?.close();
      server = undefined;
    },
    /** Every connection: fd, peer, bytes in and out, unsent backlog. */
    connections: () => gate.connections(),
  };
}

/** Listens on `conf`'s address and port (default 127.0.0.1, any free port); resolves with where. */
async function listen(server: Server, conf: GateConf): Promise<{ address: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: conf.address ?? "127.0.0.1", port: conf.port ?? 0, backlog: conf.backlog }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { address, port } = server.address() as { address: string; port: number };
  return { address, port };
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
