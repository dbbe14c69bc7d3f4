/**
 * The debug console (DESIGN.md; skynet's debug_console) over real TCP on 127.0.0.1: the line
 * protocol and its `<CMD OK>` / `<CMD Error>` markers, each command's output, bad input and
 * bad addresses, clients that leave mid-command, the HTTP form, and the service's life cycle.
 */
import { request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { formatHandle, parseHandle, type Handle } from "weft";
import type DebugConsole from "../services/debug_console.js";
import type Store from "./fixtures/con_store.js";
import type Watchdog from "./fixtures/net_watchdog.js";
import { ConsoleClient } from "./fixtures/con_client.js";
import { WsClient } from "./ws-client.js";
import { logFile, rejectionOf, useRuntime } from "./helpers.js";

const log = logFile();
const runtime = useRuntime({ logger: log.path });
let consolePort = 0;

beforeAll(async () => {
  const con = await runtime().newService<typeof DebugConsole>("debug_console", 0);
  consolePort = (await runtime().call(con, "address")).port;
});

/** A console user for one test: connected, greeted, and disconnected when the test finishes. */
async function client(port = consolePort): Promise<ConsoleClient> {
  const c = await ConsoleClient.connect(port);
  onTestFinished(() => void c.socket.destroy());
  return c;
}


/** A con_store for one test, killed when it finishes. */
async function store(...args: unknown[]): Promise<{ handle: Handle; addr: string }> {
  const handle = await runtime().newService<typeof Store>("con_store", ...args);
  onTestFinished(async () => void (await runtime().kill(handle)));
  return { handle, addr: formatHandle(handle) };
}

const columns = (line: string | undefined) => (line ?? "").trim().split(/\s{2,}/);
const rowOf = (lines: string[], addr: string) => columns(lines.find((l) => l.startsWith(`${addr} `)));
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("the line protocol", () => {
  it("answers an unknown command or a malformed line with an error, then keeps serving", async () => {
    const { addr } = await store();
    const c = await client();
    expect(await c.send("frobnicate now")).toEqual({ ok: false, lines: ["Invalid command, type help for command list"] });
    expect(await c.error(`call ${addr}`)).toBe("usage: call [--timeout ms] address cmd [args...]");
    expect(await c.error(`call ${addr} set k {"a": 1,}`)).toMatch(/^argument 2 is not valid JSON/);
    expect(await c.error(`call ${addr} set k "no end`)).toMatch(/^unterminated string/);
    // Empty lines get no answer, and CRLF line ends are accepted: the next answer is ping's.
    c.socket.write("\n\r\n   \n");
    expect(await c.ok("ping .launcher\r")).toEqual([expect.stringMatching(/^:00000002  pong  /)]);
  });

  it("answers commands sent before the greeting, then closes when the client half-closed", async () => {
    const socket = connect({ host: "127.0.0.1", port: consolePort });
    onTestFinished(() => void socket.destroy());
    socket.setEncoding("utf8");
    socket.end("getenv thread\nping 2\n");
    let text = "";
    socket.on("data", (chunk: string) => (text += chunk));
    await new Promise((resolve) => socket.once("close", resolve));
    expect(text).toMatch(/^Welcome to weft console\n2\n<CMD OK>\n:00000002 {2}pong {2}[\d.]+ ms\n<CMD OK>\n$/);
  });

  it("rejects invalid addresses with a clear error, whatever the command", async () => {
    const dead = await store();
    await runtime().kill(dead.handle);
    const c = await client();
    expect(await c.error("ping")).toMatch(/^an address is needed/);
    expect(await c.error("ping :zzzz")).toMatch(/^invalid address ":zzzz": an address is :0100000a/);
    expect(await c.error("task .nosuch")).toBe('no service named ".nosuch"');
    expect(await c.error("logon nosuch")).toBe('invalid address "nosuch": neither a hex address nor a registered name');
    expect(await c.error(`ping ${dead.addr}`)).toMatch(new RegExp(`^no service at ${dead.addr}`));
    expect(await c.error(`kill ${dead.addr}`)).toBe(`no service at ${dead.addr}`);
    expect(await c.error(`stat ${dead.addr}`)).toBe(`no service at ${dead.addr}`);
    expect(await c.error(`call ${dead.addr} get k`)).toMatch(new RegExp(`^no service at ${dead.addr}`));
    expect(await c.error("info :7f000001")).toMatch(/there is no worker 127/);
    expect(await c.error("kill :01000000")).toBe(":01000000 is the system endpoint of worker 1, not a service");
    // The short forms: hex without the colon, and names.
    expect(await c.ok("ping 2")).toEqual([expect.stringMatching(/^:00000002  pong/)]);
    expect(await c.ok("ping .logger")).toEqual([expect.stringMatching(/^:00000001  pong/)]);
  });

  it("survives a client that disconnects while its command runs", async () => {
    const holder = await store();
    const gone = await client();
    gone.socket.write(`call ${holder.addr} block\n`);
    await runtime().call<typeof Store>(holder.handle, "untilBlocked");
    gone.socket.destroy();
    expect(await runtime().call<typeof Store>(holder.handle, "release")).toBe(1);
    // The answer to "block" reached the console before this ping's (same sender, same path).
    const c = await client();
    expect(await c.ok(`ping ${holder.addr}`)).toHaveLength(1);
  });
});

describe("the commands", () => {
  it("help lists every command and says memory is per thread", async () => {
    const lines = await (await client()).ok("help");
    const names = lines.map((l) => l.split(" ")[0]);
    for (const cmd of "help list stat mem gc info exit kill start call ping task service netstat getenv setenv logon logoff".split(" ")) {
      expect(names).toContain(cmd);
    }
    expect(lines.find((l) => l.startsWith("mem"))).toMatch(/per service it cannot be measured/);
  });

  it("list shows each service's address, name and launch arguments", async () => {
    const s = await store("x", 2);
    const lines = await (await client()).ok("list");
    expect(lines).toContainEqual(expect.stringMatching(/^:00000001 {2}logger$/));
    expect(lines).toContainEqual(expect.stringMatching(/^:00000002 {2}launcher$/));
    expect(rowOf(lines, s.addr)).toEqual([s.addr, "con_store", '"x" 2']);
    expect(lines.map((l) => l.slice(0, 9))).toEqual(lines.map((l) => l.slice(0, 9)).sort());
  });

  it("stat shows cpu, messages, mailbox and pending tasks per service", async () => {
    const s = await store();
    for (const n of [1, 2, 3]) await runtime().call<typeof Store>(s.handle, "set", "k", n);
    const c = await client();
    const lines = await c.ok("stat");
    const header = ["address", "name", "cpu_ms", "messages", "mailbox", "calls", "inflight", "timers", "forks", "waits"];
    expect(columns(lines[0])).toEqual(header);
    const row = rowOf(lines, s.addr);
    expect(row.slice(0, 2)).toEqual([s.addr, "con_store"]);
    expect(row[2]).toMatch(/^\d+\.\d$/);
    expect(row.slice(3)).toEqual(["3", "0", "0", "0", "0", "0", "0"]);
    expect(lines).toContainEqual(expect.stringMatching(/^:00000002 {2}launcher /));
    const one = await c.ok(`stat ${s.addr}`);
    expect(one).toHaveLength(2);
    expect(columns(one[1])).toEqual([s.addr, "con_store", row[2], ...row.slice(3)]);
  });

  it("mem shows the heap of each thread, the process rss, and why not per service", async () => {
    const lines = await (await client()).ok("mem");
    expect(columns(lines[0])).toEqual(["thread", "heap_used", "heap_total", "heap_limit", "external", "services"]);
    expect(lines.slice(1, 4).map((l) => columns(l)[0])).toEqual(["main", "worker 1", "worker 2"]);
    for (const line of lines.slice(1, 4)) expect(line).toMatch(/^(main|worker \d) +\d+ KB +\d+ KB +\d+ KB +\d+ KB +\d+$/);
    expect(columns(lines[1]).at(-1)).toBe("2"); // the logger and the launcher
    expect(lines[4]).toMatch(/^rss \d+ KB \(the whole process\)$/);
    expect(lines[5]).toMatch(/cannot be measured/);
  });

  it("gc collects on every thread and shows the heap before and after", async () => {
    const lines = await (await client()).ok("gc");
    expect(columns(lines[0])).toEqual(["thread", "before", "after", "freed"]);
    expect(lines.slice(1).map((l) => columns(l)[0])).toEqual(["main", "worker 1", "worker 2"]);
    for (const line of lines.slice(1)) expect(line).toMatch(/^(main|worker \d) +\d+ KB +\d+ KB +-?\d+ KB$/);
  });

  it("info prints what the service's info function returns, as JSON", async () => {
    const s = await store();
    await runtime().call<typeof Store>(s.handle, "set", "k", 1);
    const lines = await (await client()).ok(`info ${s.addr} 1 "two" three`);
    expect(JSON.parse(lines.join("\n"))).toEqual({ keys: 1, asked: [1, "two", "three"] });
  });

  it("call takes JSON arguments and prints the result as JSON", async () => {
    const s = await store();
    const c = await client();
    expect(await c.ok(`call ${s.addr} set k {"a": [1, 2], "b": "c d"}`)).toEqual([]);
    expect(await c.ok(`call ${s.addr} get k`)).toEqual(['{"a":[1,2],"b":"c d"}']);
    expect(await c.ok(`call ${s.addr} set w hello`)).toEqual([]);
    expect(await runtime().call<typeof Store>(s.handle, "get", "w")).toBe("hello");
    expect(await c.error(`call ${s.addr} boom "no luck"`)).toBe(`${s.addr} failed on "boom": no luck`);
    expect(await c.error(`call ${s.addr} nothing`)).toMatch(/has no command "nothing"/);
    // A deadline of one's own, or none (skynet's call): the answer is the same.
    expect(await c.ok(`call --timeout 0 ${s.addr} get k`)).toEqual(['{"a":[1,2],"b":"c d"}']);
    expect(await c.ok(`call --timeout 60000 ${s.addr} get k`)).toEqual(['{"a":[1,2],"b":"c d"}']);
    expect(await c.error(`call --timeout soon ${s.addr} get k`)).toBe("--timeout needs a whole number of ms (0: no deadline), not soon");
  });

  it("kill and exit end a service: list no longer shows it and calls to it fail", async () => {
    const [a, b] = [await store(), await store()];
    const c = await client();
    expect(await c.ok(`kill ${a.addr}`)).toEqual([`${a.addr} killed`]);
    expect(await c.ok(`exit ${b.addr}`)).toEqual([`${b.addr} exited`]);
    const listed = (await c.ok("list")).join("\n");
    expect(listed).not.toContain(a.addr);
    expect(listed).not.toContain(b.addr);
    expect((await rejectionOf(runtime().call<typeof Store>(b.handle, "get", "k"))).code).toBe("WEFT_NO_SUCH_SERVICE");
    expect(await c.error(`exit ${a.addr}`)).toMatch(new RegExp(`^no service at ${a.addr}`));
  });

  it("start launches a service with JSON arguments and prints an address that works", async () => {
    const c = await client();
    const [printed] = await c.ok('start con_store "s" 1');
    expect(printed).toMatch(/^:[0-9a-f]{8}$/);
    const handle = parseHandle(printed!)!;
    onTestFinished(async () => void (await runtime().kill(handle)));
    expect(await runtime().call<typeof Store>(handle, "args")).toEqual(["s", 1]);
    expect(await c.error("start con_nosuch")).toMatch(/con_nosuch/);
  });

  it("ping prints the round trip through the service's mailbox", async () => {
    const s = await store();
    expect(await (await client()).ok(`ping ${s.addr}`)).toEqual([expect.stringMatching(new RegExp(`^${s.addr}  pong  \\d+\\.\\d{3} ms$`))]);
  });

  it("task shows the calls a service waits on, the answers it owes, its timers and waits", async () => {
    const [waiter, holder] = [await store(), await store()];
    const relayed = runtime().call<typeof Store>(waiter.handle, "relay", holder.handle, "block");
    await runtime().call<typeof Store>(holder.handle, "untilBlocked");
    await runtime().call<typeof Store>(waiter.handle, "later", 60_000);
    const c = await client();
    expect(await c.ok(`task ${waiter.addr}`)).toEqual([
      expect.stringMatching(new RegExp(`^call {2}#\\d+ {2}to {2}${holder.addr} {2}"block"$`)),
      'answer  owed  to  :00000000  "relay"',
      "timers 1  forks 0  waits 0",
    ]);
    expect(await c.ok(`task ${holder.addr}`)).toEqual([`answer  owed  to  ${waiter.addr}  "block"`, "timers 0  forks 0  waits 1"]);
    await runtime().call<typeof Store>(holder.handle, "release");
    expect(await relayed).toBe("released");
    expect(await c.ok(`task ${holder.addr}`)).toEqual(["timers 0  forks 0  waits 0"]);
  });

  it("service lists the unique services", async () => {
    const unique = await runtime().uniqueService<typeof Store>("con_store");
    onTestFinished(async () => void (await runtime().kill(unique)));
    expect(await (await client()).ok("service")).toContainEqual(`con_store  ${formatHandle(unique)}`);
  });

  it("netstat shows each gate's connections: fd, peer, state, bytes in and out, backlog", async () => {
    const rt = runtime();
    const wd = await rt.newService<typeof Watchdog>("net_watchdog");
    const { gate, port } = await rt.call(wd, "start", {}, { onOpen: "accept" });
    onTestFinished(async () => void (await rt.kill(gate), await rt.kill(wd)));
    const socket = connect({ host: "127.0.0.1", port });
    onTestFinished(() => void socket.destroy());
    await new Promise((resolve) => socket.once("connect", resolve));
    const peer = `127.0.0.1:${socket.localPort}`;
    const fd = await rt.call(wd, "fdOf", peer);
    socket.write(Buffer.from([0, 2, 0x68, 0x69])); // one netpack packet, "hi"
    await rt.call(wd, "until", "data", 1, fd);
    const c = await client();
    const lines = await c.ok("netstat");
    expect(columns(lines[0])).toEqual(["gate", "fd", "peer", "state", "bytes_in", "bytes_out", "backlog"]);
    const row = [formatHandle(gate), String(fd), peer, "open", "4", "0", "0"];
    expect(lines.map(columns)).toContainEqual(row);
    // Once the gate counts (its stats command), its summary line follows the table.
    const stats = await rt.call(gate, "stats").catch((err: { code?: string }) => (err.code === "WEFT_UNKNOWN_COMMAND" ? undefined : Promise.reject(err)));
    const summary = stats === undefined ? [] : [[formatHandle(gate), ...Object.entries(stats).flatMap(([k, v]) => (typeof v === "number" ? [`${k} ${v}`] : []))]];
    expect((await c.ok(`netstat ${formatHandle(gate)}`)).map(columns)).toEqual([columns(lines[0]), row, ...summary]);
  });

  it("netstat adds one summary line per gate from its stats command, none for a gate without it", async () => {
    const rt = runtime();
    const [counting, older, broken] = await Promise.all(["stats", "nostats", "broken"].map((mode) => rt.newService("con_gate", mode)));
    onTestFinished(async () => void (await Promise.all([counting, older, broken].map((g) => rt.kill(g!)))));
    const c = await client();
    const table = (gate: Handle) => [
      ["gate", "fd", "peer", "state", "bytes_in", "bytes_out", "backlog"],
      [formatHandle(gate), "7", "127.0.0.1:4242", "open", "10", "20", "0"],
    ];
    const lines = await c.ok(`netstat ${formatHandle(counting!)}`);
    expect(lines.slice(0, 2).map(columns)).toEqual(table(counting!));
    expect(lines.slice(2)).toEqual([`${formatHandle(counting!)}  connections 1  accepted 5  refused 2  resets 0  errors 1  cut 0  paused 0`]);
    expect((await c.ok(`netstat ${formatHandle(older!)}`)).map(columns)).toEqual(table(older!));
    const failed = await c.ok(`netstat ${formatHandle(broken!)}`);
    expect(failed.slice(0, 2).map(columns)).toEqual(table(broken!));
    expect(failed.slice(2)).toEqual([`${formatHandle(broken!)}: stats: ${formatHandle(broken!)} failed on "stats": counters unavailable`]);
  });

  it("netstat lists the websocket gate's connections too", async () => {
    const rt = runtime();
    const wd = await rt.newService<typeof Watchdog>("net_watchdog");
    const { gate, port } = await rt.call(wd, "start", {}, { service: "wsgate", onOpen: "accept" });
    onTestFinished(async () => void (await rt.kill(gate), await rt.kill(wd)));
    const ws = await WsClient.connect(port);
    const fd = await rt.call(wd, "fdOf", ws.peer);
    expect((await (await client()).ok("netstat")).map(columns)).toContainEqual([formatHandle(gate), String(fd), ws.peer, "open", "0", "0", "0"]);
  });

  it("getenv prints a value as JSON; setenv sets one for every service, JSON if it parses", async () => {
    const c = await client();
    expect(await c.ok("getenv thread")).toEqual(["2"]);
    expect(await c.ok('setenv con_obj {"a": [1, 2]}')).toEqual(['con_obj = {"a":[1,2]}']);
    expect(await c.ok("getenv con_obj")).toEqual(['{"a":[1,2]}']);
    expect(runtime().getenv("con_obj")).toEqual({ a: [1, 2] });
    expect(await c.ok("setenv con_text hello world")).toEqual(['con_text = "hello world"']);
    expect(runtime().getenv("con_text")).toBe("hello world");
    expect(await c.error("getenv con_unset")).toBe('"con_unset" is not set');
    expect(await c.error("setenv con_obj")).toBe("usage: setenv key value");
  });

  it("logon makes the logger print the messages a service receives; logoff stops it", async () => {
    const s = await store();
    const c = await client();
    const line = (text: string) => new RegExp(`^\\[${s.addr}\\] ${escape(text)}$`);
    expect(await c.ok(`logon ${s.addr}`)).toEqual([`${s.addr} logging on`]);
    await runtime().call<typeof Store>(s.handle, "set", "traced", 1);
    await log.waitFor(new RegExp(`^\\[${s.addr}\\] call #\\d+ from :00000000: "set" \\["traced",1\\]$`));
    expect(await c.ok(`logoff ${s.addr}`)).toEqual([`${s.addr} logging off`]);
    await runtime().call<typeof Store>(s.handle, "set", "untraced", 2);
    await runtime().call<typeof Store>(s.handle, "say", "con-marker");
    // A trace of the second set would have been logged before the marker.
    await log.waitFor(line("con-marker"));
    expect(log.lines().filter((l) => l.includes("untraced"))).toEqual([]);
  });
});

describe("the HTTP form", () => {
  const CONSOLE_HEADER = { "X-Weft-Console": "1" };

  function httpRequest(path: string, method = "GET", headers: Record<string, string> = {}): Promise<{ status?: number; version: string; headers: IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: consolePort, path, method, headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode, version: res.httpVersion, headers: res.headers, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("answers GET /<command> with a real HTTP response carrying the command's output", async () => {
    const res = await httpRequest("/list");
    expect(res).toMatchObject({ status: 200, version: "1.1" });
    expect(res.headers).toMatchObject({ "content-type": "text/plain; charset=utf-8", connection: "close" });
    expect(res.headers["content-length"]).toBe(String(Buffer.byteLength(res.body)));
    expect(res.body.split("\n")).toContain(":00000002  launcher");
    expect(res.body).not.toMatch(/Welcome|<CMD/);
  });

  it("takes arguments as URL-decoded path segments", async () => {
    const s = await store();
    const value = encodeURIComponent('"héllo wörld ✓"');
    expect(await httpRequest(`/call/${s.addr}/set/greeting/${value}`, "POST", CONSOLE_HEADER)).toMatchObject({ status: 200, body: "" });
    const res = await httpRequest(`/call/${s.addr}/get/greeting`, "POST", CONSOLE_HEADER);
    expect(res).toMatchObject({ status: 200, body: '"héllo wörld ✓"\n' });
    expect(res.headers["content-length"]).toBe(String(Buffer.byteLength(res.body)));
    expect((await httpRequest("/")).body).toMatch(/^help {2,}this list$/m);
  });

  it("answers a failed command with 400 and the error text, and other methods with 405", async () => {
    expect(await httpRequest("/frobnicate")).toMatchObject({ status: 400, body: "Invalid command, type help for command list\n" });
    expect(await httpRequest("/ping/:zzzz")).toMatchObject({ status: 400, body: expect.stringMatching(/^invalid address ":zzzz"/) });
    const post = await httpRequest("/list", "POST");
    expect(post).toMatchObject({ status: 405, headers: { allow: "GET, HEAD" } });
  });

  it("refuses what a web page sends (an Origin, or a foreign Host), so a page cannot drive it", async () => {
    const s = await store();
    expect(await httpRequest(`/kill/${s.addr}`, "GET", { Origin: "http://example.com" })).toMatchObject({ status: 403 });
    expect(await httpRequest(`/kill/${s.addr}`, "GET", { Host: "attacker.example:8000" })).toMatchObject({ status: 403 });
    // The header does not make up for an Origin: a page's preflight carries one and is refused.
    expect(await httpRequest(`/kill/${s.addr}`, "POST", { ...CONSOLE_HEADER, Origin: "http://example.com" })).toMatchObject({ status: 403 });
    expect(await httpRequest(`/kill/${s.addr}`, "OPTIONS", { Origin: "http://example.com", "Access-Control-Request-Headers": "x-weft-console" })).toMatchObject({ status: 403 });
    expect(await httpRequest(`/call/${s.addr}/get/greeting`, "POST", CONSOLE_HEADER)).toMatchObject({ status: 200 });
    expect(await runtime().call<typeof Store>(s.handle, "args")).toEqual([]);
  });

  it("answers GET for the commands that only read: help list stat mem ping task service netstat getenv", async () => {
    const reads = ["/help", "/list", "/stat", "/mem", "/ping/.launcher", "/task/.launcher", "/service", "/netstat", "/getenv/thread"];
    for (const path of reads) expect(await httpRequest(path), path).toMatchObject({ status: 200 });
    expect(await httpRequest("/stat", "HEAD")).toMatchObject({ status: 200, body: "" });
  });

  it("answers GET of a command that changes the node with 405, saying how to POST it; nothing runs", async () => {
    const s = await store();
    const { addr } = s;
    const changes = [`/kill/${addr}`, `/exit/${addr}`, "/start/con_store", `/call/${addr}/set/k/1`, "/setenv/con_http/1", `/logon/${addr}`, `/logoff/${addr}`, "/gc", `/info/${addr}`];
    for (const path of changes) {
      const command = path.split("/")[1];
      const curl = `curl -X POST -H 'X-Weft-Console: 1' http://127.0.0.1:${consolePort}${path}`;
      const res = await httpRequest(path);
      expect(res, path).toMatchObject({ status: 405, headers: { allow: "POST" } });
      expect(res.body).toBe(`${command} changes the node, so over HTTP it needs POST and the header X-Weft-Console: 1: ${curl}\n`);
    }
    expect(await httpRequest(`/kill/${addr}`, "HEAD")).toMatchObject({ status: 405, body: "" });
    // However the command word is dressed up: blanks around it are still the same command.
    for (const path of [`/%20kill/${addr}`, `/%09kill%20/${addr}`, `/kill%20${addr}`]) expect(await httpRequest(path), path).toMatchObject({ status: 405 });
    expect(await runtime().call<typeof Store>(s.handle, "get", "k")).toBeUndefined();
    expect(runtime().getenv("con_http")).toBeUndefined();
    expect((await runtime().list()).filter((r) => r.name === "con_store").map((r) => r.address)).toEqual([addr]);
    await log.waitFor(new RegExp(`^\\[:[0-9a-f]{8}\\] debug console: 405 to GET /kill/${addr} from 127\\.0\\.0\\.1:\\d+: GET of a command that changes the node$`));
  });

  it("answers POST without the header X-Weft-Console with 403 saying to add it; with the header the command runs", async () => {
    const s = await store();
    const refused = await httpRequest(`/kill/${s.addr}`, "POST");
    expect(refused).toMatchObject({ status: 403 });
    expect(refused.body).toBe(`kill needs the header X-Weft-Console: 1 (a web page cannot send it): curl -X POST -H 'X-Weft-Console: 1' http://127.0.0.1:${consolePort}/kill/${s.addr}\n`);
    expect(await runtime().call<typeof Store>(s.handle, "args")).toEqual([]);
    // Any value will do: a page cannot send the header at all.
    expect(await httpRequest(`/kill/${s.addr}`, "POST", { "x-weft-console": "yes" })).toMatchObject({ status: 200, body: `${s.addr} killed\n` });
    expect((await rejectionOf(runtime().call<typeof Store>(s.handle, "args"))).code).toBe("WEFT_NO_SUCH_SERVICE");
    // A POST with a body (a form's): the body is read and dropped, the answer is whole.
    const body = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: consolePort, path: "/setenv/con_posted/2", method: "POST", headers: CONSOLE_HEADER, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, body: text }));
      });
      req.on("error", reject);
      req.end("a=1\nb=2\n".repeat(1000));
    });
    expect(body).toEqual({ status: 200, body: "con_posted = 2\n" });
  });
});

describe("the line protocol runs every command (a web page cannot speak it)", () => {
  it("gc, info, logon, logoff, setenv, start, call, exit and kill all answer over TCP", async () => {
    const [a, b] = [await store(), await store()];
    const c = await client();
    expect(await c.ok("gc")).toHaveLength(4);
    expect(await c.ok(`info ${a.addr}`)).not.toEqual([]);
    expect(await c.ok(`logon ${a.addr}`)).toEqual([`${a.addr} logging on`]);
    expect(await c.ok(`logoff ${a.addr}`)).toEqual([`${a.addr} logging off`]);
    expect(await c.ok("setenv con_tcp 3")).toEqual(["con_tcp = 3"]);
    const [started] = await c.ok("start con_store");
    onTestFinished(async () => void (await runtime().kill(parseHandle(started!)!)));
    expect(await c.ok(`call ${a.addr} set k 1`)).toEqual([]);
    expect(await c.ok(`exit ${a.addr}`)).toEqual([`${a.addr} exited`]);
    expect(await c.ok(`kill ${b.addr}`)).toEqual([`${b.addr} killed`]);
  });
});

describe("the service", () => {
  it("tells its port, logs where it listens, and on exit closes its server and connections", async () => {
    const rt = runtime();
    const con = await rt.newService<typeof DebugConsole>("debug_console", 0);
    const { address, port } = await rt.call(con, "address");
    expect(address).toBe("127.0.0.1");
    await log.waitFor(new RegExp(`^\\[${formatHandle(con)}\\] Start debug console at 127\\.0\\.0\\.1:${port}$`));
    const c = await client(port);
    expect(await c.ok("getenv thread")).toEqual(["2"]);
    await rt.kill(con);
    await c.closed;
    const refused = await new Promise<NodeJS.ErrnoException>((resolve) => connect({ host: "127.0.0.1", port }).once("error", resolve));
    expect(refused.code).toBe("ECONNREFUSED");
  });

  it("refuses to start without a valid port", async () => {
    const err = await rejectionOf(runtime().newService("debug_console", "eighty"));
    expect(err.message).toMatch(/needs a port from 0 to 65535/);
  });
});
