/**
 * What a gate does with its connections, whatever carries them (the TCP gateserver, the
 * websocket wsgateserver): the table of connections, why each one is not being read, its
 * packet-rate limit, its unsent backlog, how it ends (and what the operator and the handler
 * hear of that), and the counters of `stats()`.
 *
 * Reading a connection is stopped for independent reasons, one bit each in `held`: the target
 * service is loaded past its mark (backpressure), the client sends faster than `rate`, the
 * client does not read its answers (backlog), or the gate's thread has sent more than the other
 * threads take (link: svc.watchBackedUp; every connection of the gate, until it drains). One reason's end never undoes another's pause,
 * and none of them is `openclient`: the stream flows when the connection is open and held for
 * nothing.
 */
import createDebug from "debug";
import { performance } from "node:perf_hooks";
import type { Service } from "../runtime/context.js";
import { defaults } from "../runtime/defaults.js";
import { backlogCheck, holdsReading, type BacklogState } from "./backlog.js";
import { containHandler } from "./gatekit.js";
import type { ConnectionInfo, Gate, GateHandler } from "./gateserver.js";
import { rateLimitedLog, type RateLimitedLog } from "./ratelog.js";
import { msUntil, takeToken, tokenBucket, type RateLimit, type TokenBucket } from "./ratelimit.js";

const trace = createDebug("weft:gate");

/** Why a gate stops reading a connection, one bit each (see the file's comment). */
export const HOLD = Object.freeze({ backpressure: 1, rate: 2, backlog: 4, link: 8 });
export type PauseReason = keyof typeof HOLD;
const REASONS = Object.keys(HOLD) as PauseReason[];

/** Why the gate itself ended a connection. */
export type CutReason = "backlog" | "idle" | "upgrade";

/**
 * Errors that are how a peer goes away, not faults: a reset, a write to a closed peer, a
 * keepalive that timed out. The handler hears `disconnect`; `stats()` counts them as resets.
 */
const ORDINARY_DISCONNECTS = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** The code of an ordinary disconnect error, or undefined for any other error. */
export function ordinaryDisconnect(err: Error & { code?: string }): string | undefined {
  return err.code !== undefined && ORDINARY_DISCONNECTS.has(err.code) ? err.code : undefined;
}

/** What a gate keeps of each connection, whatever carries it. */
export interface ConnectionState {
  fd: number;
  peer: string;
  open: boolean;
  bytesIn: number;
  bytesOut: number;
  backlog: BacklogState;
  /** Gone from the gate's view (an error, or the gate cut it): the handler heard `error`. */
  failed: boolean;
  /** Why reading is stopped, HOLD bits; 0: read whenever open. */
  held: number;
  /** The packet-rate limit's bucket; undefined when the gate has no `rate`. */
  bucket: TokenBucket | undefined;
  /** Packets read past the rate limit, in order: they go to the handler as tokens come. */
  waiting: Buffer[] | undefined;
  /** Delivers waiting packets when the bucket has refilled. */
  refill: NodeJS.Timeout | undefined;
  /** The code of the ordinary disconnect error that ends this connection (see ordinaryDisconnect). */
  resetBy: string | undefined;
  idle: NodeJS.Timeout | undefined;
}

/** The answer of a gate's `stats` command: counters since the gate service started, and now. */
export interface GateStats {
  /** Connections open now (websocket: upgraded). */
  connections: number;
  /** Websocket gate: sockets connected that have not upgraded yet (they count against maxclient). Always 0 for TCP. */
  upgrading: number;
  /** Connections taken (each got an fd). */
  accepted: number;
  /** Connections closed at once because `maxclient` were served (websocket: answered 503). */
  refused: number;
  /** Connections that ended normally: the client closed, or closeclient/kick. */
  closed: number;
  /** Connections that ended with an ordinary disconnect error: ECONNRESET, EPIPE, ETIMEDOUT. */
  resets: number;
  /** Connections that ended with any other error (socket or protocol). */
  errors: number;
  /** Connections the gate cut: the sum of cutFor. */
  cut: number;
  cutFor: Record<CutReason, number>;
  /** Connections not being read now for some reason (pausedFor says which; one may have several). */
  paused: number;
  pausedFor: Record<PauseReason, number>;
}

/** How a template's connections carry bytes. */
export interface Carrier<C> {
  /** Stops and restarts reading c. */
  pause(c: C): void;
  resume(c: C): void;
  /** Every byte the gate holds for c that the client has not taken yet. */
  unsent(c: C): number;
  /** Hands one packet of c to the handler (as the template does with every packet). */
  deliver(c: C, msg: Buffer): void;
  /** Ends c, which the gate cut (the handler has heard `error` already). */
  cut(c: C, message: string, why: CutReason): void;
}

/** The settings of the last `open` that the connections follow. */
export interface ConnectionLimits {
  /** Seconds without a packet before a connection is cut; 0: never. */
  timeout: number;
  backlogLimit: number;
  rate: RateLimit | undefined;
}

/** Handler until the template's setup has given its own. */
const NO_HANDLER: GateHandler = { message() {} };

/**
 * A gate's connections over `carrier`. The template builds each connection's record (one
 * literal with every ConnectionState field) and gives it to `admit`.
 */
export function connectionTable<C extends ConnectionState>(svc: Service, gateName: string, carrier: Carrier<C>, unit: "packet" | "message" = "packet") {
  const connections = new Map<number, C>();
  /** What the gate tells the operator, rate-limited per kind: a client can make any number of these. */
  const oplog: RateLimitedLog = rateLimitedLog((line) => svc.log(line));
  const safely = containHandler(svc, gateName, oplog);
  const counters = { accepted: 0, refused: 0, closed: 0, resets: 0, errors: 0 };
  const cutFor: Record<CutReason, number> = { backlog: 0, idle: 0, upgrade: 0 };
  let handler = NO_HANDLER;
  let limits: ConnectionLimits = { timeout: 0, backlogLimit: defaults.backlogLimit, rate: undefined };
  svc.onExit(() => oplog.flush());
  // The agents on other workers do not keep up with what this gate reads: the bytes would wait
  // in this thread's rings without bound, where no agent's mailbox mark sees them.
  svc.watchBackedUp((backedUp) => {
    for (const c of connections.values()) {
      if (backedUp) hold(c, HOLD.link);
      else release(c, HOLD.link);
    }
  });

  const hold = (c: C, bit: number): void => {
    if ((c.held & bit) !== 0) return;
    const was = c.held;
    c.held = was | bit;
    if (was === 0 && c.open && !c.failed) carrier.pause(c);
  };

  const release = (c: C, bit: number): void => {
    if ((c.held & bit) === 0) return;
    c.held &= ~bit;
    if (c.held === 0 && c.open && !c.failed) carrier.resume(c);
  };

  /** The bucket has refilled: the waiting packets it has tokens for go; c is read again once none wait. */
  const deliverWaiting = (c: C): void => {
    c.refill = undefined;
    const waiting = c.waiting;
    if (c.failed || waiting === undefined || c.bucket === undefined) return;
    const rate = limits.rate;
    let n = 0;
    while (n < waiting.length && (rate === undefined || takeToken(c.bucket, performance.now(), rate))) n++;
    const ready = waiting.splice(0, n);
    for (const msg of ready) carrier.deliver(c, msg);
    if (waiting.length > 0) waitForTokens(c, rate!);
    else {
      c.waiting = undefined;
      release(c, HOLD.rate);
    }
  };

  const waitForTokens = (c: C, rate: RateLimit): void => {
    c.refill ??= setTimeout(deliverWaiting, msUntil(c.bucket!, c.waiting!.length, rate), c);
  };

  /**
   * Marks c failed (once only: false if it had failed already), gone from the table at once;
   * counts it, tells the operator of a cut, and the handler hears `error` now rather than at
   * 'close'. The caller ends the stream.
   */
  const fail = (c: C, message: string, why: CutReason | "error"): boolean => {
    if (c.failed) return false;
    c.failed = true;
    clearTimeout(c.idle);
    clearTimeout(c.refill);
    c.waiting = undefined;
    connections.delete(c.fd);
    trace("fd %d fails (%s): %s", c.fd, why, message);
    if (why === "error") counters.errors++;
    else {
      cutFor[why]++;
      oplog.line(`cut ${why}`, `${gateName}: fd ${c.fd} (${c.peer}) cut: ${message}`);
    }
    safely("error", () => handler.error?.(c.fd, message));
    return true;
  };

  const cut = (c: C, message: string, why: CutReason): void => {
    if (fail(c, message, why)) carrier.cut(c, message, why);
  };

  const idleExpired = (c: C): void => {
    // Not read because of the server (a loaded agent) or the rate limit: the client is not idle.
    if ((c.held & (HOLD.backpressure | HOLD.rate | HOLD.link)) !== 0) c.idle?.refresh();
    else cut(c, `no ${unit} for ${limits.timeout} s`, "idle");
  };

  const methods: Pick<Gate, "openclient" | "pauseclient" | "resumeclient" | "connection" | "connections"> = {
    openclient(fd) {
      const c = connections.get(fd);
      if (!c || c.open) return;
      c.open = true;
      if (c.held === 0) carrier.resume(c);
    },
    pauseclient(fd, reason) {
      const c = connections.get(fd);
      if (c) hold(c, bitOf(reason));
    },
    resumeclient(fd, reason) {
      const c = connections.get(fd);
      if (c) release(c, bitOf(reason));
    },
    connection(fd) {
      const c = connections.get(fd);
      return c && info(c);
    },
    connections: () => [...connections.values()].map(info),
  };

  const info = (c: C): ConnectionInfo => ({ fd: c.fd, peer: c.peer, open: c.open, bytesIn: c.bytesIn, bytesOut: c.bytesOut, backlog: carrier.unsent(c) });

  return {
    connections,
    safely,
    oplog,
    methods,
    fail,
    cut,
    set handler(h: GateHandler) {
      handler = h;
    },
    get handler(): GateHandler {
      return handler;
    },
    /** The settings connections made from now on follow (the backlog limit and the rate apply to all at once). */
    configure(next: ConnectionLimits): void {
      limits = next;
    },

    /** A fresh bucket when the gate has a rate limit: for the record of a new connection. */
    bucket: (): TokenBucket | undefined => (limits.rate ? tokenBucket(limits.rate, performance.now()) : undefined),

    /** The gate cut a socket that never became a connection (a websocket that did not upgrade in time). */
    cutBefore(peer: string, message: string, why: CutReason): void {
      cutFor[why]++;
      oplog.line(`cut ${why}`, `${gateName}: socket from ${peer} cut: ${message}`);
    },

    /** A connection past maxclient, refused. */
    refused(): void {
      counters.refused++;
    },

    /** Takes a new connection into the table and starts its idle timer. */
    admit(c: C): void {
      connections.set(c.fd, c);
      counters.accepted++;
      if (svc.backedUp) c.held |= HOLD.link;
      if (limits.timeout > 0) c.idle = setTimeout(idleExpired, limits.timeout * 1000, c);
    },

    /**
     * A packet read from c, which has a rate limit (a bucket): it goes to the handler if it has a
     * token; else it waits, in order, and c is not read until every waiting packet has gone.
     */
    limited(c: C, msg: Buffer): void {
      const rate = limits.rate;
      if (c.waiting === undefined) {
        if (rate === undefined || takeToken(c.bucket!, performance.now(), rate)) {
          carrier.deliver(c, msg);
          return;
        }
        c.waiting = [msg];
        hold(c, HOLD.rate);
        waitForTokens(c, rate);
      } else c.waiting.push(msg);
    },

    /** Packets of c waiting for tokens. */
    waiting: (c: C): number => c.waiting?.length ?? 0,

    /**
     * After each write and drain: warns the handler of c's unsent backlog (past 1 MiB, at each
     * doubling, 0 once drained), stops reading c while the backlog is past the warning mark, and
     * cuts c past backlogLimit instead of holding more.
     */
    checkBacklog(c: C): void {
      if (c.failed) return;
      const unsent = carrier.unsent(c);
      const held = (c.held & HOLD.backlog) !== 0;
      if (holdsReading(held, unsent, defaults.backlogWarning) !== held) {
        if (held) release(c, HOLD.backlog);
        else hold(c, HOLD.backlog);
      }
      const action = backlogCheck(c.backlog, unsent, defaults.backlogWarning, limits.backlogLimit);
      if (action.kind === "none") return;
      if (action.kind === "warn") safely("warning", () => handler.warning?.(c.fd, action.kib));
      else if (action.kind === "drained") safely("warning", () => handler.warning?.(c.fd, 0));
      else cut(c, `unsent backlog of ${action.bytes} bytes passed the limit of ${limits.backlogLimit}`, "backlog");
    },

    /** The stream of c closed: c is forgotten at once, and the handler hears `disconnect` unless it heard `error`. */
    closed(c: C): void {
      clearTimeout(c.idle);
      clearTimeout(c.refill);
      c.idle = undefined;
      c.refill = undefined;
      if (c.waiting !== undefined) trace("fd %d closed with %d packets waiting for the rate limit: dropped", c.fd, c.waiting.length);
      c.waiting = undefined;
      if (c.failed) return;
      connections.delete(c.fd);
      const reason = c.resetBy;
      if (reason === undefined) counters.closed++;
      else counters.resets++;
      safely("disconnect", () => handler.disconnect?.(c.fd, reason));
    },

    /** What `stats` answers; `upgrading` from the websocket gate. */
    stats(upgrading = 0): GateStats {
      const pausedFor: Record<PauseReason, number> = { backpressure: 0, rate: 0, backlog: 0, link: 0 };
      let paused = 0;
      for (const c of connections.values()) {
        if (c.held === 0) continue;
        paused++;
        for (const r of REASONS) if ((c.held & HOLD[r]) !== 0) pausedFor[r]++;
      }
      const cut = cutFor.backlog + cutFor.idle + cutFor.upgrade;
      return { connections: connections.size, upgrading, ...counters, cut, cutFor: { ...cutFor }, paused, pausedFor };
    },
  };
}

export type ConnectionTable<C extends ConnectionState> = ReturnType<typeof connectionTable<C>>;

function bitOf(reason: PauseReason): number {
  const bit = HOLD[reason];
  if (bit === undefined) throw new RangeError(`no pause reason "${String(reason)}": one of ${REASONS.join(", ")}`);
  return bit;
}
