/**
 * The websocket gate (services/wsgate on lib/wsgateserver) over real websocket connections on
 * 127.0.0.1, with node's `ws` as the client: one binary message is one packet at every frame
 * length boundary, maxPayload both ways (close code 1009), text messages (1003, or bytes with
 * `text: true`), openclient gating, forward and accept, maxclient (HTTP 503), kick (1000), the
 * idle timeout (1008), the backlog warning and hard cap; then the watchdog example over
 * websocket, alone and beside the TCP gate.
 */
import { connect, type Socket } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { formatHandle, Runtime, WS_CLOSE, type Handle, type WsGateConf } from "weft";
import { Packr } from "msgpackr";
import { floodPacket } from "./fixtures/net_agent.js";
import type Agent from "./fixtures/net_agent.js";
import { WsClient } from "./ws-client.js";
import type { WatchdogOptions } from "./fixtures/net_watchdog.js";
import { acceptOrForward, readsNothingBeforeForward } from "./gate-scenarios.js";
import { openGate as openGateOf, packetsNow as packetsNowOfAgent, packetsOf as packetsOfAgent } from "./gate-harness.js";
import { examples, fixtures, logFile, rejectionOf, startExample, useRuntime } from "./helpers.js";
import { digest, NetClient, pattern, quietFor, within } from "./net-client.js";

const log = logFile();
const runtime = useRuntime({ logger: log.path });
const MiB = 1024 * 1024;

const openGate = (conf: WsGateConf = {}, options: WatchdogOptions = {}) => openGateOf(runtime(), "wsgate", (port, opts?: { maxPayload?: number }) => WsClient.connect(port, opts), conf, options);
const packetsOf = (agent: Handle, n: number, from = 0) => packetsOfAgent(runtime(), agent, n, from);
const packetsNow = (agent: Handle) => packetsNowOfAgent(runtime(), agent);

describe("one binary message is one packet", () => {
  // 125/126: the 7-bit and 16-bit frame lengths; 65535/65536: the 16-bit and 64-bit ones.
  const sizes = [0, 125, 126, 65535, 65536];

  it("carries messages of 0, 125, 126, 65535 and 65536 bytes to the agent and back, whole, binary and in order", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    const payloads = sizes.map((n, i) => pattern(n, i));
    await client.send(...payloads);

    expect(digest(await packetsOf(await g.agentOf(fd), sizes.length))).toEqual(digest(payloads));
    expect(digest(await client.waitMessages(sizes.length))).toEqual(digest(payloads));
    expect(client.received.map((m) => m.binary)).toEqual(sizes.map(() => true));
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(await g.connection(fd)).toEqual({ fd, peer: client.peer, open: true, bytesIn: total, bytesOut: total, backlog: 0 });
  });

  it("closes a connection whose message passes maxPayload (64 KiB) with 1009; the watchdog hears error; other connections go on", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const other = await g.connect();
    const fd = await g.fdOf(client);
    const agent = await g.agentOf(fd);

    await client.send("before", pattern(65537));
    expect(await within(client.closed, 5000, "the client over maxPayload was not closed")).toMatchObject({ code: WS_CLOSE.tooBig });
    const [error] = await g.until("error", 1, fd);
    expect(error!.detail).toBe("a message over maxPayload (65536 bytes): closed with 1009");
    expect(await packetsNow(agent)).toEqual([Buffer.from("before")]);

    await other.send("still served");
    expect(await other.waitMessages(1)).toEqual([Buffer.from("still served")]);
    expect(await g.events("close", fd)).toEqual([]);
  });

  it("takes maxPayload from open: a message of exactly maxPayload bytes passes, one byte more closes with 1009", async () => {
    const g = await openGate({ maxPayload: 1000 }, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    await client.send(pattern(1000, 1));
    expect(await client.waitMessages(1)).toEqual([pattern(1000, 1)]);
    await client.send(pattern(1001, 2));
    expect((await within(client.closed, 5000, "the client over maxPayload was not closed")).code).toBe(1009);
    expect(client.received).toHaveLength(1);
  });

  it("refuses to write a message over maxPayload: the call rejects, nothing is sent (writev: none of them), the connection stays usable", async () => {
    const g = await openGate({ maxPayload: 1000 }, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    await g.agentOf(fd);

    const err = await rejectionOf(g.rt.call(g.gate, "write", fd, Buffer.alloc(1001, 7)));
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { code: "WEFT_PACKET_TOO_LARGE" } });
    expect(err.message).toContain(formatHandle(g.gate));
    expect(err.message).toContain("packet of 1001 bytes exceeds the 1000-byte limit of the websocket gate's maxPayload");
    const errv = await rejectionOf(g.rt.call(g.gate, "writev", fd, ["first", Buffer.alloc(1001)]));
    expect(errv).toMatchObject({ cause: { code: "WEFT_PACKET_TOO_LARGE" } });

    // A string goes out as one binary message of its UTF-8 bytes.
    expect(await g.rt.call(g.gate, "write", fd, "still here ✓")).toBe(true);
    expect(await client.waitMessages(1)).toEqual([Buffer.from("still here ✓")]);
    expect(client.received).toEqual([{ data: Buffer.from("still here ✓"), binary: true }]);
    expect(await g.events("error", fd)).toEqual([]);
  });
});

describe("text messages", () => {
  it("closes a connection that sends a text message with 1003, and the watchdog hears error: the gate takes binary messages", async () => {
    const g = await openGate({}, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    const agent = await g.agentOf(fd);
    await client.send("binary first");
    await client.sendText("then text");

    expect(await within(client.closed, 5000, "the text sender was not closed")).toMatchObject({ code: WS_CLOSE.unsupportedData });
    const [error] = await g.until("error", 1, fd);
    expect(error!.detail).toBe("a text message: this gate takes binary messages only");
    expect(await packetsNow(agent)).toEqual([Buffer.from("binary first")]);
    expect(await g.connections()).toEqual([]);
  });

  it("delivers a text message as its UTF-8 bytes when the gate is opened with text: true", async () => {
    const g = await openGate({ text: true }, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    await client.sendText("héllo, wörld");
    await client.send("and binary");
    expect(await packetsOf(await g.agentOf(await g.fdOf(client)), 2)).toEqual([Buffer.from("héllo, wörld"), Buffer.from("and binary")]);
    // The gate writes binary messages only: the echo of the text comes back as bytes.
    await client.waitMessages(2);
    expect(client.received).toEqual([
      { data: Buffer.from("héllo, wörld"), binary: true },
      { data: Buffer.from("and binary"), binary: true },
    ]);
  });

  it("refuses a text option that is not a boolean, and a maxPayload that is not a positive integer", async () => {
    const rt = runtime();
    const gate = await rt.newService("wsgate");
    onTestFinished(async () => void (await rt.kill(gate)));
    expect((await rejectionOf(rt.call(gate, "open", { text: "yes" }))).message).toContain("text must be true or false");
    expect((await rejectionOf(rt.call(gate, "open", { maxPayload: 0 }))).message).toContain("maxPayload must be a positive integer");
    // Still able to open after the refusals.
    expect(await rt.call(gate, "open", {})).toMatchObject({ address: "127.0.0.1", port: expect.any(Number) });
  });
});

describe("who gets a connection's messages", () => {
  it("reads nothing from a connection before forward, then delivers what waited, whole and in order", async () => {
    await readsNothingBeforeForward(await openGate(), 0);
  });

  it("sends an accepted connection's messages to the watchdog, a forwarded one's to the agent (from `client`)", async () => {
    await acceptOrForward(await openGate());
  });

  it("survives clients that reset while their upgrade is being refused", async () => {
    const g = await openGate({ maxclient: 1 }, { onOpen: "accept" });
    const first = await g.connect();
    const upgrade = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(g.port, "127.0.0.1", () => {
          s.write(upgrade);
          s.resetAndDestroy();
          resolve();
        });
        s.on("error", () => resolve());
      });
    }
    // A last refused client that reads its answer: the gate reached it after all the others.
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(g.port, "127.0.0.1", () => s.write(upgrade));
      let text = "";
      s.on("data", (d) => (text += d.toString()));
      s.on("end", () => resolve(text));
      s.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(await g.rt.lost()).toEqual([]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([await g.fdOf(first)]);
  });

  it("serves exactly maxclient connections: one more is refused with HTTP 503; after one leaves, a new one is served", async () => {
    const g = await openGate({ maxclient: 3 }, { onOpen: "agent", agent: { echo: true } });
    const served = [await g.connect(), await g.connect(), await g.connect()];
    const fds: number[] = [];
    for (const client of served) {
      fds.push(await g.fdOf(client));
      await client.send(`hello ${client.peer}`);
      expect(await client.waitMessages(1)).toEqual([Buffer.from(`hello ${client.peer}`)]);
    }

    expect((await rejectionOf(g.connect())).message).toContain("Unexpected server response: 503");

    served[0]!.close();
    expect((await served[0]!.closed).code).toBe(1005);
    await g.until("close", 1, fds[0]);
    // The gate told the watchdog of every open before this close: the refused one never was.
    expect(await g.events("open")).toHaveLength(3);
    expect(await g.events("error")).toEqual([]);

    const next = await g.connect();
    const fd = await g.fdOf(next);
    await next.send("my turn");
    expect(await next.waitMessages(1)).toEqual([Buffer.from("my turn")]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([fds[1], fds[2], fd]);
  });

  it("kicks a connection after what was written to it: the client gets it, then close 1000; the watchdog hears close", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const other = await g.connect();
    const fd = await g.fdOf(client);
    await client.send("hi");
    await client.waitMessages(1);

    await g.rt.call(g.gate, "write", fd, pattern(60_000, 5));
    await g.rt.call(g.gate, "kick", fd);
    expect(await within(client.closed, 5000, "the kicked client was not closed")).toMatchObject({ code: WS_CLOSE.normal });
    expect(digest(client.messages)).toEqual(digest([Buffer.from("hi"), pattern(60_000, 5)]));
    await g.until("close", 1, fd);
    expect(await g.events("error", fd)).toEqual([]);
    expect(await g.rt.call(g.gate, "write", fd, "too late")).toBe(false);

    await other.send("unaffected");
    expect(await other.waitMessages(1)).toEqual([Buffer.from("unaffected")]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([await g.fdOf(other)]);
  });

  it("kicks a connection that was never opened: close 1000, and what it sent is never delivered", async () => {
    const g = await openGate();
    const client = await g.connect();
    await client.send("never read");
    const fd = await g.fdOf(client);
    await g.rt.call(g.gate, "kick", fd);
    expect((await within(client.closed, 5000, "the kicked client was not closed")).code).toBe(1000);
    await g.until("close", 1, fd);
    expect(await g.events("data")).toEqual([]);
  });

  it("closes its connections with 1001 when the gate service exits, and stops listening", async () => {
    const g = await openGate({}, { onOpen: "accept" });
    const client = await g.connect();
    await g.fdOf(client);
    await g.rt.kill(g.gate);
    expect(await within(client.closed, 5000, "the client of an exited gate was not closed")).toMatchObject({ code: WS_CLOSE.goingAway, reason: "the gate exited" });
    expect((await rejectionOf(g.connect())).message).toMatch(/ECONNREFUSED/);
  });

  it("answers a plain HTTP request with 426 Upgrade Required", async () => {
    const g = await openGate();
    const res = await fetch(`http://127.0.0.1:${g.port}/`);
    expect(res.status).toBe(426);
    expect(res.headers.get("upgrade")).toBe("websocket");
    expect(await res.text()).toContain("websocket gate");
    expect(await g.events("open")).toEqual([]);
  });

  it("a wsgateserver whose message handler throws or rejects keeps serving that connection and the others", async () => {
    const rt = runtime();
    const bad = await rt.newService("ws_badgate");
    onTestFinished(async () => void (await rt.kill(bad)));
    const { port } = await rt.call(bad, "open", { port: 0 });
    const client = await WsClient.connect(port);
    const other = await WsClient.connect(port);

    await client.send("1", "boom", "2", "later", "3");
    expect(await client.waitMessages(3)).toEqual(["1", "2", "3"].map((s) => Buffer.from(s)));
    await log.waitFor(new RegExp(`${formatHandle(bad)}.*wsgate handler message failed.*refuses "boom"`));
    await log.waitFor(new RegExp(`${formatHandle(bad)}.*wsgate handler message failed.*rejects "later"`));

    await other.send("still", "served");
    expect(await other.waitMessages(2)).toEqual([Buffer.from("still"), Buffer.from("served")]);
    expect(await rt.call(bad, "connections")).toHaveLength(2);
  });
});

describe("sockets that never send their upgrade", () => {
  /** A raw TCP socket to the gate that sends nothing; resolves once connected. */
  const silentSocket = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
      s.on("error", reject);
      onTestFinished(() => void s.destroy());
    });

  it("count against maxclient until they upgrade, and are closed after upgradeTimeout seconds", async () => {
    const g = await openGate({ maxclient: 500, upgradeTimeout: 1 }, { onOpen: "accept" });
    const started = Date.now();
    const silent = await Promise.all(Array.from({ length: 500 }, () => silentSocket(g.port)));
    const closed = silent.map((s) => new Promise<number>((resolve) => s.once("close", () => resolve(Date.now() - started))));
    // The server takes each socket a little after the client sees it connected.
    expect(await g.statsUntil((s) => s.upgrading === 500, "500 sockets waiting to upgrade")).toMatchObject({ connections: 0 });
    // The 501st socket is one too many, websocket or not.
    expect((await rejectionOf(g.connect())).message).toContain("Unexpected server response: 503");

    const times = await within(Promise.all(closed), 5000, "the silent sockets were not closed");
    expect(Math.min(...times)).toBeGreaterThanOrEqual(950);
    expect(await g.rt.call(g.gate, "stats")).toMatchObject({ upgrading: 0, connections: 0, refused: 1, cut: 500, cutFor: { upgrade: 500, backlog: 0, idle: 0 } });
    expect(await g.events("open")).toEqual([]);
    // Their slots are free again.
    const client = await g.connect();
    await g.fdOf(client);

    // The operator reads 10 lines for them, and one more counting the rest when the gate exits.
    const mine = () => log.lines().filter((l) => l.startsWith(`[${formatHandle(g.gate)}]`));
    await log.waitFor(new RegExp(`\\[${formatHandle(g.gate)}\\] wsgate: socket from 127\\.0\\.0\\.1:\\d+ cut: no upgrade request within 1 s$`));
    await g.rt.kill(g.gate);
    await log.waitFor(new RegExp(`\\[${formatHandle(g.gate)}\\] .*no upgrade request within 1 s … \\(repeated 490 times in the last [\\d.]+ s\\)$`));
    expect(mine()).toHaveLength(11);
  });

  it("are not cut once upgraded: a websocket that upgraded in time outlives the deadline", async () => {
    const g = await openGate({ upgradeTimeout: 0.3 }, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    await g.fdOf(client);
    await quietFor(500);
    await client.send("still here");
    expect(await client.waitMessages(1)).toEqual([Buffer.from("still here")]);
    expect(await g.rt.call(g.gate, "stats")).toMatchObject({ connections: 1, upgrading: 0, cut: 0 });
  });

  it("refuses an upgradeTimeout that is not a positive number of seconds", async () => {
    const rt = runtime();
    const gate = await rt.newService("wsgate");
    onTestFinished(async () => void (await rt.kill(gate)));
    expect((await rejectionOf(rt.call(gate, "open", { upgradeTimeout: 0 }))).message).toContain("upgradeTimeout must be a positive number of seconds");
  });
});

describe("the idle timeout", () => {
  it("closes a connection without a message for `timeout` seconds with 1008 (error to the watchdog); a chatty one stays", async () => {
    const g = await openGate({ timeout: 1 }, { onOpen: "accept" });
    const silent = await g.connect();
    const chatty = await g.connect();
    const fdS = await g.fdOf(silent);
    const fdC = await g.fdOf(chatty);
    const since = Date.now();
    const chat = setInterval(() => void chatty.send("tick").catch(() => undefined), 300);
    onTestFinished(() => clearInterval(chat));

    expect(await within(silent.closed, 5000, "the silent client was not closed")).toMatchObject({ code: WS_CLOSE.idle, reason: "no message for 1 s" });
    expect(Date.now() - since).toBeGreaterThanOrEqual(900);
    const [error] = await g.until("error", 1, fdS);
    expect(error!.detail).toBe("no message for 1 s");

    // Past the silent one's deadline by half a timeout, the chatty one is still served.
    await g.until("data", 5, fdC);
    clearInterval(chat);
    expect((await g.connections()).map((c) => c.fd)).toEqual([fdC]);
    expect(await g.events("error", fdC)).toEqual([]);
  });
});

describe("the backlog of a client that does not read", () => {
  const SIZE = 65534;
  /** One flood message on the wire: the payload and a 4-byte frame header (16-bit length). */
  const WIRE = SIZE + 4;
  const floodPackets = (count: number) => Array.from({ length: count }, (_, i) => floodPacket(i, SIZE));

  async function pausedClient(conf: WsGateConf = {}) {
    const g = await openGate(conf, { onOpen: "agent", agent: { echo: false } });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    const agent = await g.agentOf(fd);
    client.pause();
    return {
      ...g,
      client,
      fd,
      /** `count` flood messages to the paused client, in one writev (one turn of the gate). */
      flood: (count: number) => g.rt.call<typeof Agent>(agent, "flood", count, SIZE, count),
      warnings: async (): Promise<number[]> => (await g.events("warning", fd)).map((e) => e.detail as number),
    };
  }

  it("warns past 1 MiB, again at each doubling, and with 0 once the client reads it all", async () => {
    const g = await pausedClient();
    const count = 130;
    await g.flood(count);
    expect(await g.connection(g.fd)).toMatchObject({ bytesOut: count * SIZE, backlog: expect.toSatisfy((n: number) => n > 4 * MiB) });

    g.client.resume();
    expect(digest(await g.client.waitMessages(count))).toEqual(digest(floodPackets(count)));
    await g.until("warning", 1, g.fd, 10_000, 0);
    // Messages 16, 32, 64 and 128 take the backlog (k × 65538 bytes) just past 1, 2, 4 and 8 MiB.
    expect(await g.warnings()).toEqual([16, 32, 64, 128].map((k) => Math.floor((k * WIRE) / 1024)).concat(0));
    expect(await g.warnings()).toEqual([1024, 2048, 4096, 8192, 0]);
    expect((await g.connection(g.fd))!.backlog).toBe(0);
  });

  it("cuts the connection (error, not close) when the backlog passes backlogLimit; the gate and other connections go on", async () => {
    const g = await pausedClient({ backlogLimit: 2 * MiB });
    const bystander = await g.connect();
    const fdB = await g.fdOf(bystander);
    await g.flood(64); // 4 MiB offered

    const [error] = await g.until("error", 1, g.fd);
    expect(error!.detail).toBe(`unsent backlog of ${32 * WIRE} bytes passed the limit of ${2 * MiB}`);
    // Message 16 gave the only warning; message 32 took the backlog past the limit.
    expect(await g.warnings()).toEqual([1024]);

    g.client.resume();
    // Cut without a close frame: it would have waited behind the backlog.
    expect((await within(g.client.closed, 5000, "the client over the limit was not closed")).code).toBe(1006);
    const got = g.client.messages;
    expect(got.length).toBeLessThanOrEqual(32);
    expect(digest(got)).toEqual(digest(floodPackets(got.length)));

    expect((await g.connections()).map((c) => c.fd)).toEqual([fdB]);
    expect(await g.rt.call(g.gate, "write", fdB, "still served")).toBe(true);
    expect(await bystander.waitMessages(1)).toEqual([Buffer.from("still served")]);
    expect(await g.events("close", g.fd)).toEqual([]);
  });
});

describe("the watchdog example over websocket", () => {
  const packr = new Packr({ useRecords: false });


  /** A websocket client of the example's protocol: one msgpack array per binary message. */
  async function exampleClient(port: number) {
    const client = await WsClient.connect(port);
    let session = 0;
    return {
      client,
      request: (name: string, args: unknown = {}) => client.send(packr.pack([++session, name, args])),
      /** Every message so far, decoded. */
      decoded: () => client.messages.map((m) => packr.unpack(m) as unknown[]),
    };
  }

  it("answers handshake, set and get, pushes heartbeats, and closes with 1000 after quit", async () => {
    const { rt, portOf } = await startExample({ gate: "wsgate", heartbeat: 50, web: false });
    const port = await portOf(/Watchdog listen on ws:\/\/127\.0\.0\.1:(\d+)$/);
    const c = await exampleClient(port);
    await c.request("handshake");
    await c.request("set", { what: "hello", value: "websocket" });
    await c.request("get", { what: "hello" });
    await c.request("nonsense");
    // Three answers, an error and at least three heartbeats.
    for (let n = 4; ; n++) {
      await c.client.waitMessages(n);
      const decoded = c.decoded();
      if (decoded.filter((m) => m[0] !== 0).length === 4 && decoded.filter((m) => m[1] === "heartbeat").length >= 3) break;
    }
    const decoded = c.decoded();
    // Requests are answered as they finish (get waits on simpledb): compare by session.
    expect(decoded.filter((m) => m[0] !== 0).sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([
      [1, { msg: "Welcome to weft, I will send heartbeat every 0.05 sec." }],
      [2, {}],
      [3, { result: "websocket" }],
      [4, null, 'unknown request "nonsense"'],
    ]);
    expect(decoded.filter((m) => m[0] === 0).every((m) => m[1] === "heartbeat")).toBe(true);

    await c.request("quit");
    expect((await within(c.client.closed, 5000, "quit did not close the connection")).code).toBe(1000);
    expect(c.decoded().filter((m) => m[0] !== 0).at(-1)).toEqual([5, {}]);
    // The agent exits once its client has gone.
    const deadline = Date.now() + 5000;
    while ((await rt.list()).some((r) => r.name === "agent") && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect((await rt.list()).filter((r) => r.name === "agent")).toEqual([]);
  });

  it('runs both gates with gate: ["gate", "wsgate"]: what a TCP client sets, a websocket client gets', async () => {
    const { portOf } = await startExample({ gate: ["gate", "wsgate"], web: false });
    const tcpPort = await portOf(/Watchdog listen on 127\.0\.0\.1:(\d+)$/);
    const wsPort = await portOf(/Watchdog listen on ws:\/\/127\.0\.0\.1:(\d+)$/);
    expect(wsPort).not.toBe(tcpPort);

    const tcp = await NetClient.connect(tcpPort);
    await tcp.send(packr.pack([1, "set", { what: "shared", value: "across gates" }]));
    expect((await tcp.waitPackets(1)).map((p) => packr.unpack(p))).toEqual([[1, {}]]);

    const ws = await exampleClient(wsPort);
    await ws.request("get", { what: "shared" });
    await ws.client.waitMessages(1);
    expect(ws.decoded()).toEqual([[1, { result: "across gates" }]]);
  });

  it("refuses a config gate that is neither \"gate\" nor \"wsgate\", naming the key", async () => {
    const err = await rejectionOf(Runtime.start({ thread: 1, servicePath: [examples, fixtures], start: "main", gate: "udp", port: 0, console: 0 }));
    expect(err.code).toBe("WEFT_START_FAILED");
    expect(String(err.message) + String(err.cause?.message ?? "")).toContain('config "gate" must be "gate", "wsgate" or ["gate", "wsgate"], not "udp"');
  });
});
