/**
 * What both gate templates (TCP gateserver, websocket wsgateserver) do the same way besides
 * their connections (lib/gateconnections.ts): keeping a throwing handler from taking the gate
 * down, checking a packet's size, the write methods of `Gate`, the grace a closing connection
 * gets, the settings of `open`, and listening (again after a restart).
 */
import createDebug from "debug";
import { Buffer } from "node:buffer";
import type { EventEmitter } from "node:events";
import { spawn } from "node:child_process";
import type { Server } from "node:net";
import type { Service } from "../runtime/context.js";
import { defaults } from "../runtime/defaults.js";
import { PacketTooLargeError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";
import type { GateStats } from "./gateconnections.js";
import type { Gate, GateConf, GateHandler } from "./gateserver.js";
import { rateLimitOf, type RateLimit } from "./ratelimit.js";
import type { RateLimitedLog } from "./ratelog.js";

const trace = createDebug("weft:gate");

/**
 * An agent's reply lane to its gate (services/gate, services/wsgate): `write(packet)` sends one
 * packet to connection `fd` as a one-way `client` message whose session is the fd, instead of a
 * `write` command with its name and an argument list per packet. The bytes are handed over, not
 * copied: do not change them afterwards. Only the fd's agent (or the watchdog) may use it; a
 * packet for a closed fd is dropped. A packet the gate refuses (over 65535 bytes on TCP) is
 * logged by the gate; check sizes first where that matters.
 *
 * @example
 * const write = clientWriter(svc, gate, fd);
 * svc.dispatch("client", (msg: Buffer) => write(msg));   // an echo agent
 */
export function clientWriter(svc: Service, gate: Handle, fd: number): (packet: Uint8Array | string) => void {
  const self = svc.self;
  return (packet) => svc.redirect(gate, self, "client", packet, fd);
}

/** How long a connection closed by the gate may take to send what it was given before it is cut. */
export const CLOSE_GRACE_MS = 10_000;

/**
 * Runs a handler callback; what it throws (or rejects with) is logged, never propagated. The
 * lines go through `oplog`: a client that makes a handler throw on every packet gives a few.
 */
export function containHandler(svc: Service, gateName: string, oplog: RateLimitedLog): (what: string, fn: () => unknown) => void {
  const report = (what: string, err: unknown) => oplog.line(`handler ${what}`, `${gateName} handler ${what} failed: ${describe(err)}`);
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

export const peerOf = (socket: { remoteAddress?: string; remotePort?: number }): string =>
  socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : "(gone)";

/**
 * Cuts `stream` after CLOSE_GRACE_MS unless it closed by then (a client that stopped reading
 * would keep it forever). The timer holds the stream alone, not the connection's record, and
 * goes when the stream closes: a closed connection's memory is free at once.
 */
export function cutAfterGrace<S extends EventEmitter>(stream: S, cut: (stream: S) => void): void {
  const timer = setTimeout(cut, CLOSE_GRACE_MS, stream);
  timer.unref();
  stream.once("close", () => clearTimeout(timer));
}

/** The settings of `open` every gate takes, checked and with their defaults. */
export type CheckedConf<C extends GateConf> = C &
  Required<Pick<GateConf, "maxclient" | "timeout" | "backlogLimit" | "inboundMark" | "backlog" | "listeners">> & {
    /** `rate` and `burst` together; undefined: no rate limit. */
    rateLimit: RateLimit | undefined;
  };

/** Node's own listen backlog, the least a gate asks for. */
const NODE_BACKLOG = 511;
/** The most listening descriptors a gate makes (`listeners`): each is a descriptor for the process's whole life of the gate. */
const MAX_LISTENERS = 1024;

const positive = (name: string, value: unknown, what: string): number => {
  if (typeof value !== "number" || !(value > 0)) throw new RangeError(`${name} must be a positive number (${what}), not ${String(value)}`);
  return value;
};

/** `open`'s settings every gate takes, checked (a bad one throws before anything listens). */
export function gateConf<C extends GateConf>(options: C): CheckedConf<C> {
  const maxclient = options.maxclient ?? defaults.maxclient;
  if (!Number.isInteger(maxclient) || maxclient < 1) throw new RangeError(`maxclient must be a positive integer, not ${String(options.maxclient)}`);
  const timeout = options.timeout ?? 0;
  if (typeof timeout !== "number" || !(timeout >= 0)) throw new RangeError(`timeout must be seconds (0: none), not ${String(options.timeout)}`);
  const backlogLimit = positive("backlogLimit", options.backlogLimit ?? defaults.backlogLimit, "bytes");
  const inboundMark = positive("inboundMark", options.inboundMark ?? defaults.overload, "messages");
  // A crowd up to maxclient waits in the kernel rather than being dropped (and retried after 1 s, 3 s...).
  const backlog = options.backlog ?? Math.max(NODE_BACKLOG, maxclient);
  if (!Number.isInteger(backlog) || backlog < 1) throw new RangeError(`backlog must be a positive integer, not ${String(options.backlog)}`);
  const listeners = options.listeners ?? 1;
  if (!Number.isInteger(listeners) || listeners < 1 || listeners > MAX_LISTENERS) throw new RangeError(`listeners must be an integer from 1 to ${MAX_LISTENERS}, not ${String(options.listeners)}`);
  return { ...options, maxclient, timeout, backlogLimit, inboundMark, backlog, listeners, rateLimit: rateLimitOf(options) };
}

/** What a gate remembers of its last `open`, to open again the same way after a restart. */
interface Opened<O> {
  options: O;
  source: Handle;
}
const OPENED = "gate.open";

/**
 * The commands every gate template owns: `open` (listen on a server the template makes from the
 * options; `configure` checks them and may throw before anything starts), `close` (stop
 * listening; connections stay), `connections` and `stats`. The listener closes when the service
 * exits. A gate restarted by supervision listens again where its last `open` did (same
 * settings, same port) before it answers anything, and tells the handler `open` as then.
 */
export async function listenerCommands<O extends GateConf>(spec: {
  svc: Service;
  gateName: string;
  gate: Gate;
  handler: GateHandler;
  safely: (what: string, fn: () => unknown) => void;
  stats: () => GateStats;
  configure: (options: O) => { conf: GateConf; server: Server; another?: () => Server };
}) {
  const { svc, gateName, gate, handler, safely } = spec;
  let server: Server | undefined;
  /** The other listeners on the same socket (the `listeners` option). */
  let extra: Server[] = [];
  let opening = false;
  svc.onExit(() => {
    server?.close();
    for (const s of extra) s.close();
  });

  const openFor = async (source: Handle, options: O): Promise<{ address: string; port: number }> => {
    if (server || opening) throw new Error(`${gateName} ${svc.address} is already listening`);
    const made = spec.configure(options);
    opening = true;
    let bound: { address: string; port: number };
    try {
      bound = await listen(made.server, made.conf);
      const wanted = made.conf.listeners ?? 1;
      if (wanted > 1 && made.another) extra = await moreListeners(made.server, wanted - 1, made.another, made.conf.backlog ?? NODE_BACKLOG).catch((err: Error) => {
        // One listener still serves, only slower to let a crowd in: not a reason to refuse `open`.
        svc.log(`${gateName} could not add ${wanted - 1} listeners (it accepts through one): ${err.message}`);
        return [];
      });
    } finally {
      opening = false;
    }
    made.server.on("error", (err) => svc.log(`${gateName} listener error: ${err.message}`));
    server = made.server;
    trace("%s %s listening on %s:%d", gateName, svc.address, bound.address, bound.port);
    // The real port: a gate opened on port 0 comes back where its clients know it.
    svc.remember(OPENED, { options: { ...options, port: bound.port }, source } satisfies Opened<O>);
    safely("open", () => handler.open?.(source, made.conf));
    return bound;
  };

  // What the instance before this one kept (the launcher holds it on the main thread).
  const last = svc.remembered()[OPENED] as Opened<O> | undefined;
  if (last !== undefined) {
    try {
      await openFor(last.source, last.options);
    } catch (err) {
      // A gate that does not listen serves nobody: its start fails, so supervision tries again
      // (and past the restart intensity stops the node) instead of keeping a deaf gate.
      throw new Error(`${gateName} could not listen again on port ${String(last.options.port)} after a restart: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    /** Starts listening (skynet's gate `open`); answers with the address and the real port. */
    open(options = {} as O): Promise<{ address: string; port: number }> {
      return openFor(svc.source ?? 0, options);
    },
    /** Stops listening; connections already made stay. A restart does not listen again. */
    close(): void {
      server?.close();
      server = undefined;
      for (const s of extra) s.close();
      extra = [];
      svc.remember(OPENED, undefined);
    },
    /** Every connection: fd, peer, bytes in and out, unsent backlog. */
    connections: () => gate.connections(),
    /** The gate's counters (GateStats): connections now, accepted, refused, resets, errors, cut, paused... */
    stats: (): GateStats => spec.stats(),
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

/**
 * `n` more listeners on the socket `server` listens on, each with a descriptor of its own, made
 * with `another` (the same options and connection handler). Node gives a descriptor of its own
 * to a server handle that comes back over a child process's IPC channel, so a child that sends
 * back what it is sent is how a descriptor is duplicated here; the child then exits.
 */
async function moreListeners(server: Server, n: number, another: () => Server, backlog: number): Promise<Server[]> {
  const child = spawn(process.execPath, ["-e", MIRROR], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const got: Server[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the child that duplicates the listening socket gave ${got.length} of ${n} within ${MIRROR_WAIT_MS} ms`)), MIRROR_WAIT_MS);
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`the child that duplicates the listening socket exited (${code})`)));
      child.on("message", (_m, handle: Server) => {
        const mine = another();
        // listen(handle) takes the received server's handle over, with `another`'s options.
        mine.listen(handle, backlog);
        got.push(mine);
        if (got.length === n) resolve();
      });
      for (let i = 0; i < n; i++) child.send("mirror", server);
    });
  } catch (err) {
    for (const s of got) s.close();
    throw err;
  } finally {
    clearTimeout(timer);
    child.removeAllListeners();
    child.kill();
  }
  return got;
}

/** How long the child of moreListeners may take. */
const MIRROR_WAIT_MS = 5000;

/** The child of moreListeners: sends every handle back, then lets go of its own copy. */
const MIRROR = 'process.on("message", (m, h) => process.send(m, h, {}, () => h.close()))';

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
