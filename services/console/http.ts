/**
 * The debug console's HTTP form: request lines, request targets as console lines, responses,
 * and who may run what. Pure functions, no sockets: server.ts reads the bytes and calls these.
 *
 * Who may run what. A web page the operator opens can make the browser send requests to the
 * console, and it does not need to read the answer to do harm: `<img src=".../kill/:0100000a">`
 * is a GET with neither an Origin header nor a foreign Host. So:
 * - a request with an Origin header, or naming a host other than this machine, is refused
 *   (403): pages' fetches and form posts carry an Origin; DNS rebinding shows in the Host;
 * - commands that only read (READ_ONLY below) answer GET and HEAD;
 * - every other command needs POST and the header CONSOLE_HEADER. A page can send a POST
 *   (a form) but not that header: a fetch that sets it is preceded by a CORS preflight
 *   (OPTIONS, with an Origin), which the console refuses, so the browser never sends it.
 * curl and scripts send neither an Origin nor a foreign Host, and can add the header.
 */
import { ConsoleError } from "./text.js";

/** The header that state-changing commands need over HTTP; its value is not checked. */
export const CONSOLE_HEADER = "X-Weft-Console";

export interface RequestLine {
  method: string;
  target: string;
}

/** `GET /list HTTP/1.1` → { method, target }; anything else is not an HTTP request line. */
export function parseRequestLine(line: string): RequestLine | undefined {
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  return match ? { method: match[1]!, target: match[2]! } : undefined;
}

/**
 * A request target as a console line: `/call/:01000005/get/%22k%22` → `call :01000005 get "k"`.
 * Each path segment is one word, URL-decoded; empty segments are skipped; a query string is
 * ignored; `/` alone is `help`.
 */
export function targetToLine(target: string): string {
  const path = target.split(/[?#]/, 1)[0]!;
  const segments = path.split("/").filter((s) => s !== "");
  try {
    const words = segments.map((s) => decodeURIComponent(s));
    return words.length === 0 ? "help" : words.join(" ");
  } catch {
    throw new ConsoleError(`bad URL encoding in ${path}`);
  }
}

/** Request headers by lower-case name; a repeated header keeps its first value. */
export type Headers = Map<string, string>;

/** Adds one `Name: value` line to `headers`; a line without a colon is ignored. */
export function addHeader(headers: Headers, line: string): void {
  const colon = line.indexOf(":");
  if (colon <= 0) return;
  const name = line.slice(0, colon).trim().toLowerCase();
  if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
}

/**
 * What a command does to the node, for HTTP: "read" answers GET, "change" needs POST and the
 * header, undefined is not a command (it runs, to answer "Invalid command", whatever the method).
 */
export type Access = "read" | "change" | undefined;

/** Either run the command line, or answer this refusal. */
export type Decision = { run: true } | { run: false; status: number; body: string; headers?: Record<string, string>; why: string };

/**
 * Whether a request may run its command. `access` is the command's; `origin` is how the user
 * reached the console (`http://127.0.0.1:8000`), to print the exact curl line to use instead.
 */
export function decide(request: RequestLine, headers: Headers, command: string, access: Access, origin: string): Decision {
  if (headers.has("origin") || foreignHost(headers.get("host"))) {
    const why = headers.has("origin") ? "it has an Origin: a web page sent it" : "it names a foreign Host";
    return refuse(403, "the console answers tools on this machine, not web pages", why);
  }
  if (access === undefined) return { run: true };
  const url = `${origin}${request.target}`;
  const { method } = request;
  if (access === "read") {
    if (method === "GET" || method === "HEAD") return { run: true };
    return refuse(405, `${command} only reads: send it as GET (curl ${url})`, `${method} of a read-only command`, { Allow: "GET, HEAD" });
  }
  if (method !== "POST") {
    const text = `${command} changes the node, so over HTTP it needs POST and the header ${CONSOLE_HEADER}: 1: curl -X POST -H '${CONSOLE_HEADER}: 1' ${url}`;
    return refuse(405, text, `${method} of a command that changes the node`, { Allow: "POST" });
  }
  if (!headers.has(CONSOLE_HEADER.toLowerCase())) {
    return refuse(403, `${command} needs the header ${CONSOLE_HEADER}: 1 (a web page cannot send it): curl -X POST -H '${CONSOLE_HEADER}: 1' ${url}`, `no ${CONSOLE_HEADER} header`);
  }
  return { run: true };
}

/** `why` is for the log: the operator sees what was refused and why. */
const refuse = (status: number, text: string, why: string, headers?: Record<string, string>): Decision => ({ run: false, status, body: `${text}\n`, headers, why });

/** A Host header naming something other than this machine: a page reached us by DNS rebinding. */
function foreignHost(value: string | undefined): boolean {
  if (value === undefined) return false;
  const host = value.toLowerCase();
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return !["127.0.0.1", "localhost", "[::1]"].includes(name!);
}

const REASONS: Record<number, string> = { 200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed", 431: "Request Header Fields Too Large" };

/** A whole HTTP/1.1 response, closing the connection. HEAD gets the headers alone. */
export function httpResponse(status: number, body: string, head = false, extra: Record<string, string> = {}): string {
  const length = Buffer.byteLength(body);
  const headers = {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(length),
    Connection: "close",
    ...extra,
  };
  const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join("\r\n")}\r\n\r\n${head ? "" : body}`;
}
