/**
 * The debug console's TCP server: a line protocol on node:net (not netpack: people type into
 * it with nc or telnet), and the same commands over HTTP on the same port.
 *
 * Line protocol: the server greets, then reads lines (`\n` or `\r\n`); each line is a command,
 * run one at a time per connection, in order. Its output lines follow, then `<CMD OK>`, or the
 * error text then `<CMD Error>`. Empty lines are ignored. When the client half-closes
 * (`echo list | nc host port`), the commands already sent are answered, then the server closes.
 *
 * HTTP: a greeting sent at connect would come before an HTTP client's status line, which is
 * why skynet's console answers HTTP without one. So the greeting waits GREETING_DELAY_MS for
 * the client to speak first (what sslh does for protocols where the server speaks first): an
 * HTTP client sends its request at once, a console user waits for the greeting. If the first
 * line is `GET /command/args HTTP/1.x`, the answer is a whole HTTP/1.1 response and the
 * connection closes; otherwise the greeting goes out and the line protocol starts. Over HTTP
 * only read-only commands answer GET; the others need POST and a header (http.ts says why);
 * refusals are logged. The line protocol runs every command: a page cannot speak it.
 */
import { createServer, type AddressInfo, type Socket } from "node:net";
import createDebug from "debug";
import type { Output } from "./commands.js";
import { addHeader, decide, httpResponse, parseRequestLine, targetToLine, type Access, type Headers, type RequestLine } from "./http.js";
import { errorText, splitWords } from "./text.js";

const trace = createDebug("weft:console");

export const GREETING = "Welcome to weft console";

/** How long a new connection may speak first (an HTTP request) before it is greeted. */
const GREETING_DELAY_MS = 100;
/** A longer line is not a command: the connection is closed. */
const MAX_LINE_BYTES = 64 * 1024;
/** Lines queued behind a running command before the socket stops reading. */
const MAX_QUEUED_LINES = 256;
/** An HTTP request's headers must be in within this; request headers beyond MAX_HEADERS are refused. */
const HTTP_TIMEOUT_MS = 10_000;
const MAX_HEADERS = 100;
/** Unread output past which a console client is dropped (it sends and never reads). */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

export interface ConsoleServerOptions {
  host: string;
  port: number;
  run(line: string): Promise<Output>;
  /** Whether the command `name` only reads (it answers GET over HTTP) or changes the node. */
  access(name: string): Access;
  log(text: string): void;
}

export interface ConsoleServer {
  address: string;
  port: number;
  /** Stops listening and ends every connection; resolves once the server is closed. */
  close(): Promise<void>;
}

export async function listenConsole(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const sockets = new Set<Socket>();
  // Half-open: a client that sends its commands then shuts its side still gets the answers.
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    serve(socket, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => options.log(`debug console: ${err.message}`));
  const bound = server.address() as AddressInfo;
  return {
    address: bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** One connection: sniffs HTTP, then answers lines one command at a time. */
function serve(socket: Socket, options: ConsoleServerOptions): void {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const lines: string[] = [];
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let bytesSeen = 0;
  let firstLine = true;
  let greeted = false;
  let http: { request: RequestLine; headers: Headers; headerLines: number; answered: boolean } | undefined;
  let ended = false;
  let busy = false;

  // A client may vanish mid-command: what is left to write is dropped, nothing throws.
  const write = (text: string) => {
    if (!socket.destroyed && socket.writable) socket.write(text);
  };
  const greet = () => {
    if (greeted) return;
    greeted = true;
    options.log(`debug console: ${peer} connected`);
    write(`${GREETING}\n`);
  };
  // The extra setImmediate lets a request that arrived while this thread was busy be read
  // (poll phase) before the greeting goes (check phase): timers run first after a stall.
  const greeter = setTimeout(() => setImmediate(() => bytesSeen === 0 && !socket.destroyed && greet()), GREETING_DELAY_MS);

  socket.on("error", () => undefined);
  socket.once("close", () => {
    clearTimeout(greeter);
    if (greeted) options.log(`debug console: ${peer} disconnected`);
  });

  socket.on("data", (chunk: Buffer) => {
    bytesSeen += chunk.length;
    // One request per connection: what follows its headers (a POST body) is read and dropped.
    if (http?.answered) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      partial.push(chunk.subarray(start, nl));
      pushLine();
      start = nl + 1;
    }
    if (start < chunk.length) {
      partial.push(chunk.subarray(start));
      partialBytes += chunk.length - start;
    }
    if (partialBytes > MAX_LINE_BYTES) {
      write(`line longer than ${MAX_LINE_BYTES} bytes\n<CMD Error>\n`);
      socket.destroySoon();
      return;
    }
    if (lines.length > MAX_QUEUED_LINES) socket.pause();
    void pump();
  });
  socket.on("end", () => {
    ended = true;
    if (partialBytes > 0) pushLine();
    void pump();
  });

  function pushLine(): void {
    const line = Buffer.concat(partial).toString("utf8");
    partial = [];
    partialBytes = 0;
    lines.push(line.endsWith("\r") ? line.slice(0, -1) : line);
  }

  /** Runs the queued lines in order; one pump at a time per connection. */
  async function pump(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (let line = lines.shift(); line !== undefined; line = lines.shift()) {
        if (socket.destroyed) return;
        if (firstLine) {
          firstLine = false;
          clearTimeout(greeter);
          const request = parseRequestLine(line);
          if (request) {
            http = { request, headers: new Map(), headerLines: 0, answered: false };
            trace("%s: HTTP %s %s", peer, request.method, request.target);
            socket.setTimeout(HTTP_TIMEOUT_MS, () => socket.destroy());
            continue;
          }
          greet();
        }
        if (http) {
          // Headers are read to the end (the client must not be reset while it still sends
          // them); one request per connection, so whatever follows the answer is dropped.
          if (http.answered) continue;
          if (line !== "" && ++http.headerLines <= MAX_HEADERS) {
            addHeader(http.headers, line);
            continue;
          }
          http.answered = true;
          await answerHttp(http.request, http.headers, http.headerLines > MAX_HEADERS);
          continue;
        }
        if (line.trim() === "") continue;
        trace("%s: %s", peer, line);
        const output = await options.run(line);
        const text = output.lines.map((l) => `${l}\n`).join("");
        write(output.error === undefined ? `${text}<CMD OK>\n` : `${text}${output.error}\n<CMD Error>\n`);
        // A client that sends but never reads must not make us buffer without bound.
        if (socket.writableLength > MAX_UNREAD_BYTES) {
          socket.destroy();
          return;
        }
        if (socket.writableNeedDrain) await new Promise((resolve) => socket.once("drain", resolve).once("close", resolve));
      }
      if (socket.isPaused() && !socket.destroyed) socket.resume();
      // A client that half-closed has its answers: close. An HTTP request cut short gets none.
      if (ended) {
        if (http && !http.answered) socket.destroy();
        else if (!http) socket.end();
      }
    } finally {
      busy = false;
    }
  }

  async function answerHttp(request: RequestLine, headers: Headers, tooManyHeaders: boolean): Promise<void> {
    const head = request.method === "HEAD";
    let response: string;
    let line: string | undefined;
    let lineError: unknown;
    try {
      line = targetToLine(request.target);
    } catch (err) {
      lineError = err;
    }
    // The command word as run() will split it: a segment like "%20kill" must not pass as no command.
    const command = line === undefined ? "" : (splitWords(line).words[0] ?? "");
    const origin = `http://${headers.get("host") ?? `${socket.localAddress}:${socket.localPort}`}`;
    const decision = tooManyHeaders ? undefined : decide(request, headers, command, line === undefined ? undefined : options.access(command), origin);
    if (decision === undefined) response = httpResponse(431, `more than ${MAX_HEADERS} header lines\n`);
    else if (!decision.run) {
      options.log(`debug console: ${decision.status} to ${request.method} ${request.target} from ${peer}: ${decision.why}`);
      response = httpResponse(decision.status, decision.body, head, decision.headers);
    } else {
      // The request is in; the command has its own deadlines (commands.ts), so the socket's
      // idle timeout must not cut a slow answer.
      socket.setTimeout(0);
      let output: Output;
      try {
        if (line === undefined) throw lineError;
        output = await options.run(line);
      } catch (err) {
        output = { lines: [], error: errorText(err) };
      }
      const body = [...output.lines, ...(output.error === undefined ? [] : [output.error])].map((l) => `${l}\n`).join("");
      response = httpResponse(output.error === undefined ? 200 : 400, body, head);
    }
    if (!socket.destroyed) socket.end(response);
  }
}
