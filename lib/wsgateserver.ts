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
 * - Past `maxclient` the upgrade is answered with HTTP 503: no websocket is ever made.
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
import { CLOSE_GRACE_MS, connectionInfo, connectionMethods, containHandler, gateConf, listenerCommands, markFailed, packetBytes, peerOf, reactToBacklog, writeMethods, type ConnectionState } from "./gatekit.js";
import type { ConnectionInfo, Gate, GateConf, GateHandler } from "./gateserver.js";

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

type Options = Required<Pick<WsGateConf, "maxclient" | "timeout" | "backlogLimit" | "maxPayload" | "text">> & WsGateConf;

export function wsgateserver<Args extends unknown[]>(setup: (svc: Service, gate: Gate, ...args: Args) => GateHandler | Promise<GateHandler>) {
  return async (svc: Service, ...args: Args) => {
    const connections = new Map<number, Connection>();
    let wss: WebSocketServer | undefined;
    let conf: Options = { ...gateConf<WsGateConf>({}), maxPayload: defaults.wsMaxPayload, text: false };
    let nextFd = 0;

    /** A handler that throws never takes the gate (or other connections) down. */
    const safely = containHandler(svc, "wsgate");

    const info = (c: Connection): ConnectionInfo => connectionInfo(c, c.ws.bufferedAmount);

    /**
     * Sends a close frame, then lets ws finish the closing handshake. The websocket may still be
     * paused (closed before openclient): it must read to see the client's close frame, and what
     * it reads then is dropped (see `message`). A client that never answers is cut after a while.
     */
    const closeWith = (c: Connection, code: number, reason: string): void => {
      c.ws.close(code, reason);
      c.ws.resume();
      setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
    };

    /**
     * Ends fd with a reason: the handler hears `error`, not `disconnect`. With a code the client
     * gets a close frame; "started": ws has sent one already and finishes the closing handshake
     * (cut after a grace period); with neither, the connection is cut at once.
     */
    const fail = (c: Connection, message: string, code?: number | "started"): void => {
      if (!markFailed(connections, c, message, handler, safely)) return;
      if (code === undefined) c.ws.terminate();
      else if (code === "started") setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
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
      ...connectionMethods(connections, info, (c) => c.ws.resume()),
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
        checkBacklog(c);
      }
      return true;
    };

    // Past the limit the connection is cut at once (fail without a code): a close frame would
    // wait behind the backlog the client is not reading.
    const checkBacklog = (c: Connection): void => reactToBacklog(c, c.ws.bufferedAmount, conf.backlogLimit, handler, safely, (c, message) => fail(c, message));

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
      };
      connections.set(fd, c);
      trace("fd %d from %s", fd, c.peer);
      if (conf.timeout > 0) c.idle = setTimeout(() => fail(c, `no message for ${conf.timeout} s`, WS_CLOSE.idle), conf.timeout * 1000);
      ws.on("message", (data, isBinary) => message(c, data, isBinary));
      socket.on("drain", () => checkBacklog(c));
      socket.on("error", (err) => fail(c, err.message));
      // Protocol errors found while reading; ws has already sent the close frame (1009 for a
      // message over maxPayload, 1002 or 1007 for a broken frame).
      ws.on("error", (err: Error & { code?: string }) => {
        if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") fail(c, `a message over maxPayload (${conf.maxPayload} bytes): closed with ${WS_CLOSE.tooBig}`, "started");
        else fail(c, err.message, "started");
      });
      ws.on("close", (code) => {
        trace("fd %d closed (%d)", fd, code);
        clearTimeout(c.idle);
        connections.delete(fd);
        if (!c.failed) safely("disconnect", () => handler.disconnect?.(fd));
      });
      safely("connect", () => handler.connect?.(fd, c.peer));
    };

    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // Node's HTTP server stops listening for errors on a socket it hands to 'upgrade': a client
      // that resets it (while we refuse it, say) would otherwise crash this worker.
      socket.on("error", (err) => trace("upgrade socket from %s: %s", req.socket.remoteAddress, err.message));
      if (connections.size >= conf.maxclient || !wss) {
        trace("maxclient %d reached: refusing %s", conf.maxclient, req.socket.remoteAddress);
        socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      // Without verifyClient and compression, ws completes the handshake in this same turn.
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, socket as Socket));
    };

    const handler = await setup(svc, gate, ...args);

    svc.onExit(() => {
      for (const c of connections.values()) {
        // The service is gone: its handler must hear nothing more.
        c.failed = true;
        clearTimeout(c.idle);
        closeWith(c, WS_CLOSE.goingAway, "the gate exited");
      }
    });

    return {
      ...handler.command,
      ...listenerCommands<WsGateConf>(svc, "wsgate", gate, handler, safely, (options) => {
        const maxPayload = options.maxPayload ?? defaults.wsMaxPayload;
        // ws reads 0 as "no limit": a gate always has one.
        if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`maxPayload must be a positive integer (bytes), not ${String(options.maxPayload)}`);
        if (options.text !== undefined && typeof options.text !== "boolean") throw new TypeError(`text must be true or false, not ${String(options.text)}`);
        conf = { ...gateConf(options), maxPayload, text: options.text ?? false };
        wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });
        const server = createServer((_req, res) => {
          res.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket", Connection: "close" });
          res.end("This is a weft websocket gate: connect with a websocket client.\n");
        });
        server.on("upgrade", upgrade);
        return { conf, server };
      }),
    };
  };
}
