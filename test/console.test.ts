/**
 * The debug console (DESIGN.md; skynet's debug_console) over real TCP on 127.0.0.1: the line
 * protocol and its `<CMD OK>` / `<CMD Error>` markers, each command's output, bad input and
 * bad addresses, clients that leave mid-command, the HTTP form, and the service's life cycle.
 */
import { request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { formatHandle, parseHandle, type Handle } from "weft";
import type DebugConsole from "../services/debug_console.js";
import type Store from "./fixtures/con_store.js";
import type Watchdog from "./fixtures/net_watchdog.js";
import { WsClient } from "./ws-client.js";
import { logFile, rejectionOf, useRuntime } from "./helpers.js";

const log = logFile();
const runtime = useRuntime({ logger: log.path });
let consolePort = 0;

beforeAll(async () => {
  const con = await runtime().newService<typeof DebugConsole>("debug_console", 0);
  consolePort = (await runtime().call(con, "address")).port;
});

interface Answer {
  ok: boolean;
  /** The output lines; for an error, the error text. */
  lines: string[];
}

/** A console user: waits for the greeting, sends a line, reads up to the marker. */
class ConsoleClient {
  readonly closed: Promise<void>;
  private lines: string[] = [];
  private partial = "";
  private isClosed = false;
  private wake = () => {};

  private constructor(readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(port = consolePort): Promise<ConsoleClient> {
    const client = new ConsoleClient(connect({ host: "127.0.0.1", port }));
    onTestFinished(() => void client.socket.destroy());
    expect(await client.line()).toBe("Welcome to weft console");
    return client;
  }

  async line(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.isClosed) throw new Error(`the console closed the connection${this.partial ? ` after "${this.partial}"` : ""}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.lines.shift()!;
  }

  async send(command: string): Promise<Answer> {
    this.socket.write(`${command}\n`);
    const lines: string[] = [];
    for (let line = await this.line(); ; line = await this.line()) {
      if (line === "<CMD OK>" || line === "<CMD Error>") return { ok: line === "<CMD OK>", lines };
      lines.push(line);
    }
  }

  /** The output of a command that must succeed. */
  async ok(command: string): Promise<string[]> {
    const answer = await this.send(command);
    expect(answer.ok, `"${command}" failed: ${answer.lines.join("\n")}`).toBe(true);
    return answer.lines;
  }

  /** The error text of a command that must fail. */
  async error(command: string): Promise<string> {
    const answer = await this.send(command);
    expect(answer.ok, `"${command}" succeeded: ${answer.lines.join("\n")}`).toBe(false);
    return answer.lines.join("\n");
  }
}

const client = () => ConsoleClient.connect();

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
    expect(await c.error(`call ${addr}`)).toBe("usage: call address cmd [args...]");
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
    expect((await c.ok(`netstat ${formatHandle(gate)}`)).map(columns)).toEqual([columns(lines[0]), row]);
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
    expect(await httpRequest(`/call/${s.addr}/set/greeting/${value}`)).toMatchObject({ status: 200, body: "" });
    const res = await httpRequest(`/call/${s.addr}/get/greeting`);
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
    expect(await httpRequest(`/call/${s.addr}/get/greeting`)).toMatchObject({ status: 200 });
  });
});

describe("the service", () => {
  it("tells its port, logs where it listens, and on exit closes its server and connections", async () => {
    const rt = runtime();
    const con = await rt.newService<typeof DebugConsole>("debug_console", 0);
    const { address, port } = await rt.call(con, "address");
    expect(address).toBe("127.0.0.1");
    await log.waitFor(new RegExp(`^\\[${formatHandle(con)}\\] Start debug console at 127\\.0\\.0\\.1:${port}$`));
    const c = await ConsoleClient.connect(port);
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
