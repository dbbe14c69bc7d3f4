/**
 * The websocket gate template: the same handler interface and the same `Gate` as the TCP
 * gateserver, over websocket connections (the `ws` package). One binary websocket message is
 * one packet: websocket already frames messages, so there is no netpack header inside it. A
 * gate service is `defineService(wsgateserver((svc, gate) => handler))`; the template owns the
 * commands `open`, `close` and `connections` and adds the handler's `command`s.
 *
 * What differs from the TCP gate, and why:
 * - A message over `maxPayload` (default 64 KiB) is refused by ws while it is read: the
 *   connection is closed with 1009 and the handler hears `error`. `write` refuses one with
 *   PacketTooLargeError, as the TCP gate refuses a packet netpack cannot frame.
 * - A text message is a protocol error for a binary gate: closed with 1003, unless the gate is
 *   opened with `text: true`, which delivers its UTF-8 bytes as a packet.
 * - Past `maxclient` the upgrade is answered with HTTP 503: no websocket is ever made. A socket
 *   that has not upgraded yet counts against maxclient too, and one that has not upgraded
 *   within `upgradeTimeout` seconds (default 10) is closed: a client cannot hold sockets open by
 *   never sending its upgrade request.
 * - `bytesIn`/`bytesOut` count payload bytes (websocket frame headers are not counted).
 *
 * Nothing is read from a connection before `gate.openclient(fd)`: the websocket is paused as
 * soon as the handshake completes, so a client's messages wait in the kernel meanwhile.
 */
import createDebug from "debug";
import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Service } from "../runtime/context.js";
import { defaults } from "../runtime/defaults.js";
import { backlogState } from "./backlog.js";
import { connectionTable, ordinaryDisconnect, type ConnectionState } from "./gateconnections.js";
import { cutAfterGrace, gateConf, listenerCommands, packetBytes, peerOf, writeMethods, type CheckedConf } from "./gatekit.js";
import type { Gate, GateConf, GateHandler } from "./gateserver.js";

const trace = createDebug("weft:wsgate");


/** The close codes the websocket gate sends (RFC 6455, 7.4.1). */
export const WS_CLOSE = Object.freeze({
  /** `kick` (closeclient), after what was written is sent. */
  normal: 1000,
  /** The gate service exited. */
  goingAway: 1001,
  /** A text message, and the gate was not opened with `text: true`. */
  unsupportedData: 1003,
  /** No message for `timeout` seconds. */
  idle: 1008,
  /** A message over `maxPayload` (sent by ws itself, while reading). */
  tooBig: 1009,
});

export interface WsGateConf extends GateConf {
  /** The largest message, in bytes, in either direction. Default 64 KiB (65536). */
  maxPayload?: number;
  /** Deliver text messages as their UTF-8 bytes instead of closing with 1003. Default false. */
  text?: boolean;
  /** Seconds a new socket has to send its upgrade request before it is closed. Default 10. */
  upgradeTimeout?: number;
}

interface Connection extends ConnectionState {
  ws: WebSocket;
  /** The raw socket (ours: handed over by the upgrade), for cork, drain and errors. */
  socket: Socket;
  corked: boolean;
}

/**
 * Corks the socket until the end of this turn, once per turn: every message sent to it
 * meanwhile leaves in one system call (ws writes each frame to the socket as it is sent).
 */
function corkForTurn(c: Connection): void {
  if (c.corked) return;
  c.corked = true;
  c.socket.cork();
  process.nextTick(() => {
    c.corked = false;
    c.socket.uncork();
  });
}

type Options = CheckedConf<WsGateConf> & Required<Pick<WsGateConf, "maxPayload" | "text" | "upgradeTimeout">>;

const terminate = (ws: WebSocket): void => ws.terminate();

/** The websocket settings of `open` over the ones every gate takes, checked. */
function wsConf(options: WsGateConf): Options {
  const maxPayload = options.maxPayload ?? defaults.wsMaxPayload;
  // ws reads 0 as "no limit": a gate always has one.
  if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`maxPayload must be a positive integer (bytes), not ${String(options.maxPayload)}`);
  if (options.text !== undefined && typeof options.text !== "boolean") throw new TypeError(`text must be true or false, not ${String(options.text)}`);
  const upgradeTimeout = options.upgradeTimeout ?? defaults.wsUpgradeTimeoutMs / 1000;
  if (typeof upgradeTimeout !== "number" || !(upgradeTimeout > 0)) throw new RangeError(`upgradeTimeout must be a positive number of seconds, not ${String(options.upgradeTimeout)}`);
  return { ...gateConf(options), maxPayload, text: options.text ?? false, upgradeTimeout };
}

const HTTP_503 = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

export function wsgateserver<Args extends unknown[]>(setup: (svc: Service, gate: Gate, ...args: Args) => GateHandler | Promise<GateHandler>) {
  return async (svc: Service, ...args: Args) => {
    let wss: WebSocketServer | undefined;
    let conf: Options = wsConf({});
    let nextFd = 0;
    /** Sockets connected that have not upgraded yet, each with its deadline: they count against maxclient. */
    const upgrading = new Map<Duplex, NodeJS.Timeout>();

    const table = connectionTable<Connection>(
      svc,
      "wsgate",
      {
        // Once the closing handshake has started the websocket must read to see the client's answer.
        pause: (c) => {
          if (c.ws.readyState === WebSocket.OPEN) c.ws.pause();
        },
        resume: (c) => c.ws.resume(),
        unsent: (c) => c.ws.bufferedAmount,
        deliver: (c, msg) => deliver(c, msg),
        // Past the backlog limit the connection is cut at once: a close frame would wait behind
        // the backlog the client is not reading. An idle one gets a close frame saying why.
        cut: (c, message, why) => (why === "idle" ? closeWith(c, WS_CLOSE.idle, message) : c.ws.terminate()),
      },
      "message",
    );
    const { connections, safely } = table;

    /**
     * Sends a close frame, then lets ws finish the closing handshake. The websocket may still be
     * paused (closed before openclient, or held): it must read to see the client's close frame,
     * and what it reads then is dropped (see `message`). A client that never answers is cut
     * after a while.
     */
    const closeWith = (c: Connection, code: number, reason: string): void => {
      c.ws.close(code, reason);
      c.ws.resume();
      cutAfterGrace(c.ws, terminate);
    };

    /**
     * Ends fd with an error: the handler hears `error`, not `disconnect`. With a code the client
     * gets a close frame; "started": ws has sent one already and finishes the closing handshake
     * (cut after a grace period); with neither, the connection is cut at once.
     */
    const fail = (c: Connection, message: string, code?: number | "started"): void => {
      if (!table.fail(c, message, "error")) return;
      if (code === undefined) c.ws.terminate();
      else if (code === "started") cutAfterGrace(c.ws, terminate);
      else closeWith(c, code, message.slice(0, 120));
    };

    const gate: Gate = {
      closeclient(fd) {
        const c = connections.get(fd);
        if (!c || c.ws.readyState !== WebSocket.OPEN) return;
        // The close frame follows what was written; the handler hears `disconnect` at 'close'.
        closeWith(c, WS_CLOSE.normal, "");
      },
      ...writeMethods((payload) => packetBytes(payload, conf.maxPayload, "the websocket gate's maxPayload"), (fd, messages) => send(fd, messages)),
      ...table.methods,
    };

    /** One binary message per payload; messages written in one turn leave in one system call. */
    const send = (fd: number, payloads: Uint8Array[]): boolean => {
      const c = connections.get(fd);
      // After closeclient nothing more may be written: the close frame was the last one.
      if (!c || c.ws.readyState !== WebSocket.OPEN) return false;
      corkForTurn(c);
      for (const payload of payloads) {
        if (c.failed) return false;
        c.ws.send(payload, { binary: true });
        c.bytesOut += payload.byteLength;
        table.checkBacklog(c);
      }
      return true;
    };

    const message = (c: Connection, data: RawData, isBinary: boolean): void => {
      // Read only to finish a closing handshake: what comes after our close frame is dropped.
      if (c.failed || c.ws.readyState !== WebSocket.OPEN) return;
      if (!isBinary && !conf.text) {
        fail(c, "a text message: this gate takes binary messages only", WS_CLOSE.unsupportedData);
        return;
      }
      // binaryType "nodebuffer": one Buffer per message (fragments are joined by ws).
      const msg = data as Buffer;
      c.bytesIn += msg.length;
      c.idle?.refresh();
      if (c.bucket === undefined) deliver(c, msg);
      else table.limited(c, msg);
    };

    const deliver = (c: Connection, msg: Buffer): void => {
      if (c.failed) return;
      const handler = table.handler;
      safely("message", () => handler.message(c.fd, msg));
    };

    const attach = (ws: WebSocket, socket: Socket): void => {
      // Before anything can be read: the upgrade callback runs in the same turn as the handshake.
      ws.pause();
      const fd = ++nextFd;
      // One literal with every field, as in gateserver (a spread would put the later ones outside the object).
      const c: Connection = {
        fd,
        ws,
        socket,
        peer: peerOf(socket),
        open: false,
        bytesIn: 0,
        bytesOut: 0,
        backlog: backlogState(),
        corked: false,
        failed: false,
        held: 0,
        bucket: table.bucket(),
        waiting: undefined,
        refill: undefined,
        resetBy: undefined,
        idle: undefined,
      };
      table.admit(c);
      trace("fd %d from %s", fd, c.peer);
      ws.on("message", (data, isBinary) => message(c, data, isBinary));
      socket.on("drain", () => table.checkBacklog(c));
      socket.on("error", (err) => {
        // A reset is the client going away: ws closes, and the handler hears `disconnect`.
        const reset = ordinaryDisconnect(err);
        if (reset === undefined) fail(c, err.message);
        else c.resetBy = reset;
      });
      // Protocol errors found while reading; ws has already sent the close frame (1009 for a
      // message over maxPayload, 1002 or 1007 for a broken frame).
      ws.on("error", (err: Error & { code?: string }) => {
        if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") fail(c, `a message over maxPayload (${conf.maxPayload} bytes): closed with ${WS_CLOSE.tooBig}`, "started");
        else fail(c, err.message, "started");
      });
      ws.on("close", (code) => {
        trace("fd %d closed (%d)", fd, code);
        table.closed(c);
      });
      safely("connect", () => table.handler.connect?.(fd, c.peer));
    };

    /** A socket past maxclient (upgraded and upgrading ones together) gets 503 and no websocket. */
    const refuse = (socket: Duplex, remote: string | undefined): void => {
      trace("maxclient %d reached: refusing %s", conf.maxclient, remote);
      table.refused();
      socket.end(HTTP_503);
    };

    /** The socket has upgraded, been refused or closed: it no longer waits for its upgrade. */
    const settle = (socket: Duplex): void => {
      const deadline = upgrading.get(socket);
      if (deadline === undefined) return;
      clearTimeout(deadline);
      upgrading.delete(socket);
    };

    const upgradeExpired = (socket: Socket): void => {
      settle(socket);
      table.cutBefore(peerOf(socket), `no upgrade request within ${conf.upgradeTimeout} s`, "upgrade");
      socket.destroy();
    };

    /** Every socket, before any HTTP is read from it. */
    const connection = (socket: Socket): void => {
      if (connections.size + upgrading.size >= conf.maxclient) {
        refuse(socket, socket.remoteAddress);
        return;
      }
      upgrading.set(socket, setTimeout(upgradeExpired, conf.upgradeTimeout * 1000, socket));
      socket.once("close", () => settle(socket));
    };

    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // Node's HTTP server stops listening for errors on a socket it hands to 'upgrade': a client
      // that resets it (while we refuse it, say) would otherwise crash this worker.
      socket.on("error", (err) => trace("upgrade socket from %s: %s", req.socket.remoteAddress, err.message));
      // Refused when it connected: the 503 is on its way.
      if (socket.writableEnded) return;
      settle(socket);
      if (connections.size >= conf.maxclient || !wss) {
        refuse(socket, req.socket.remoteAddress);
        return;
      }
      // Without verifyClient and compression, ws completes the handshake in this same turn.
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, socket as Socket));
    };

    table.handler = await setup(svc, gate, ...args);

    svc.onExit(() => {
      for (const socket of upgrading.keys()) socket.destroy();
      for (const c of connections.values()) {
        // The service is gone: its handler must hear nothing more.
        c.failed = true;
        clearTimeout(c.idle);
        clearTimeout(c.refill);
        closeWith(c, WS_CLOSE.goingAway, "the gate exited");
      }
    });

    return {
      ...table.handler.command,
      ...(await listenerCommands<WsGateConf>({
        svc,
        gateName: "wsgate",
        gate,
        handler: table.handler,
        safely,
        stats: () => table.stats(upgrading.size),
        configure: (options) => {
          conf = wsConf(options);
          table.configure({ timeout: conf.timeout, backlogLimit: conf.backlogLimit, rate: conf.rateLimit });
          wss = new WebSocketServer({ noServer: true, maxPayload: conf.maxPayload, perMessageDeflate: false, clientTracking: false });
          const server = createServer((req, res) => {
            if (req.socket.writableEnded) return;
            res.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket", Connection: "close" });
            res.end("This is a weft websocket gate: connect with a websocket client.\n");
          });
          server.on("connection", connection);
          server.on("upgrade", upgrade);
          return { conf, server };
        },
      })),
    };
  };
}
