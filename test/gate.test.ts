/**
 * The gate (DESIGN.md, "Gate and gateserver") over real TCP sockets on 127.0.0.1: framing of
 * what clients send, whatever the cut; openclient gating; forward and accept; maxclient; kick;
 * idle timeout; disconnects mid-packet; handlers that throw; the `connections` command.
 * The backlog warnings have their own file (backlog.test.ts), the echo example too (echo.test.ts).
 */
import { describe, expect, it, onTestFinished } from "vitest";
import { formatHandle, type GateConf, type Handle } from "weft";
import type Watchdog from "./fixtures/net_watchdog.js";
import type { WatchdogOptions } from "./fixtures/net_watchdog.js";
import { acceptOrForward, readsNothingBeforeForward } from "./gate-scenarios.js";
import { bytesOf, openGate as openGateOf, packetsNow as packetsNowOfAgent, packetsOf as packetsOfAgent } from "./gate-harness.js";
import { logFile, rejectionOf, useRuntime } from "./helpers.js";
import { digest, frame, frames, NetClient, pattern, quietFor, within } from "./net-client.js";

const log = logFile();
const runtime = useRuntime({ logger: log.path });

const openGate = (conf: GateConf = {}, options: WatchdogOptions = {}) => openGateOf(runtime(), "gate", (port) => NetClient.connect(port), conf, options);
const packetsOf = (agent: Handle, n: number, from = 0) => packetsOfAgent(runtime(), agent, n, from);
const packetsNow = (agent: Handle) => packetsNowOfAgent(runtime(), agent);

describe("framing over a real socket", () => {
  const stream = ["", "hi", pattern(300)];

  it("reassembles packets that arrive one byte per read, the length header included", async () => {
    const g = await openGate({ nodelay: true }, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    const bytes = frames(stream);
    for (let i = 0; i < bytes.length; i++) {
      await client.write(bytes.subarray(i, i + 1));
      // The gate has read this byte, and only it, before the next one is sent: each read is one byte.
      expect(await g.bytesInReaches(fd, i + 1)).toBe(i + 1);
    }
    expect(await packetsOf(await g.agentOf(fd), 3)).toEqual(stream.map((p) => Buffer.from(p)));
  });

  it("reassembles packets cut into two reads at every split point", async () => {
    const g = await openGate({ nodelay: true }, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    const agent = await g.agentOf(fd);
    const payloads = ["ab", "", pattern(20, 1)].map((p) => Buffer.from(p));
    const bytes = frames(payloads);
    for (let split = 1; split < bytes.length; split++) {
      const before = (split - 1) * bytes.length;
      await client.write(bytes.subarray(0, split));
      expect(await g.bytesInReaches(fd, before + split)).toBe(before + split);
      await client.write(bytes.subarray(split));
      expect(await packetsOf(agent, split * 3, (split - 1) * 3)).toEqual(payloads);
    }
  });

  it("delivers many packets sent in one write whole and in order", async () => {
    const g = await openGate({}, { onOpen: "agent" });
    const client = await g.connect();
    const payloads = Array.from({ length: 200 }, (_, i) => pattern(i % 17 === 0 ? 0 : (i * 37) % 1000, i));
    await client.send(...payloads);
    expect(digest(await packetsOf(await g.agentOf(await g.fdOf(client)), 200))).toEqual(digest(payloads));
  });

  it("carries a 0-byte and a 65535-byte packet through the gate and back", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const big = pattern(65535, 9);
    await client.send("", big, "after");
    expect(digest(await client.waitPackets(3))).toEqual(digest([Buffer.alloc(0), big, Buffer.from("after")]));
    expect(client.bytesReceived).toBe(2 + 2 + 65535 + 2 + 5);
  });

  it("refuses to write a 65536-byte payload: the call rejects, nothing is sent, the connection stays usable", async () => {
    const g = await openGate({}, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    await g.agentOf(fd);

    const err = await rejectionOf(g.rt.call(g.gate, "write", fd, Buffer.alloc(65536, 7)));
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { code: "WEFT_PACKET_TOO_LARGE" } });
    expect(err.message).toContain(formatHandle(g.gate));
    expect(err.message).toContain("65536");

    expect(await g.rt.call(g.gate, "write", fd, "still here")).toBe(true);
    expect(await client.waitPackets(1)).toEqual([Buffer.from("still here")]);
    await client.send("and back");
    expect(await packetsOf(await g.agentOf(fd), 1)).toEqual([Buffer.from("and back")]);
    expect(client.bytesReceived).toBe(2 + "still here".length);
    expect(await g.events("error", fd)).toEqual([]);
  });
});

describe("who gets a connection's packets", () => {
  it("reads nothing from a connection before forward, then delivers what waited, whole and in order", async () => {
    await readsNothingBeforeForward(await openGate(), 2);
  });

  it("sends an accepted connection's packets to the watchdog, a forwarded one's to the agent (from `client`)", async () => {
    await acceptOrForward(await openGate());
  });

  it("serves exactly maxclient connections: one more is closed at once; after one leaves, a new one is served", async () => {
    const g = await openGate({ maxclient: 3 }, { onOpen: "agent", agent: { echo: true } });
    const served = [await g.connect(), await g.connect(), await g.connect()];
    const fds = [];
    for (const client of served) {
      fds.push(await g.fdOf(client));
      await client.send(`hello ${client.peer}`);
      expect(await client.waitPackets(1)).toEqual([Buffer.from(`hello ${client.peer}`)]);
    }

    const extra = await g.connect();
    await extra.send("am I served?").catch(() => undefined);
    await within(extra.closed, 2000, "the connection past maxclient was not closed");
    expect(extra.packets).toEqual([]);

    served[0]!.end();
    await g.until("close", 1, fds[0]);
    // The gate told the watchdog of every open before this close: the refused one never was.
    expect(await g.events("open")).toHaveLength(3);

    const next = await g.connect();
    const fd = await g.fdOf(next);
    await next.send("my turn");
    expect(await next.waitPackets(1)).toEqual([Buffer.from("my turn")]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([fds[1], fds[2], fd]);
  });

  it("kicks a connection after what was written to it: the client sees end, the watchdog close", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const other = await g.connect();
    const fd = await g.fdOf(client);
    await client.send("hi");
    await client.waitPackets(1);

    await g.rt.call(g.gate, "write", fd, "bye");
    await g.rt.call(g.gate, "kick", fd);
    await within(client.ended, 2000, "the kicked client did not see end");
    expect(client.packets).toEqual([Buffer.from("hi"), Buffer.from("bye")]);
    await g.until("close", 1, fd);
    expect(await g.events("error", fd)).toEqual([]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([await g.fdOf(other)]);
    expect(await g.rt.call(g.gate, "write", fd, "too late")).toBe(false);

    await other.send("unaffected");
    expect(await other.waitPackets(1)).toEqual([Buffer.from("unaffected")]);
  });

  it("closes a kicked connection that was never opened at once, not after the grace period; what it sent is never delivered", async () => {
    const g = await openGate();
    const client = await g.connect();
    const fd = await g.fdOf(client);
    await client.send("never read");
    await g.rt.call(g.gate, "kick", fd);
    await within(client.ended, 2000, "the kicked client did not see end");
    client.end();
    // The gate reads the client's FIN now (before the fix it waited out CLOSE_GRACE_MS).
    await g.until("close", 1, fd, 3000);
    expect(await g.events("data")).toEqual([]);
    expect(await g.connections()).toEqual([]);
  });

  it("sends what was written in the same turn as the kick, then ends", async () => {
    const g = await openGate({}, { onOpen: "accept" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    // One sender, so both reach the gate's mailbox together and are handled in one tick.
    g.rt.send(g.gate, "write", fd, "last words");
    g.rt.send(g.gate, "kick", fd);
    await within(client.ended, 2000, "the kicked client did not see end");
    expect(client.packets).toEqual([Buffer.from("last words")]);
    await g.until("close", 1, fd);
    expect(await g.events("error", fd)).toEqual([]);
  });

  it("drops the partial packet of a client that disconnects mid-packet or mid-header; the next connection is unaffected", async () => {
    const g = await openGate({}, { onOpen: "agent" });
    const midPacket = await g.connect();
    const midHeader = await g.connect();
    const fdP = await g.fdOf(midPacket);
    const fdH = await g.fdOf(midHeader);
    const agentP = await g.agentOf(fdP);
    const agentH = await g.agentOf(fdH);

    await midPacket.write(Buffer.concat([frame("whole"), frame(pattern(100)).subarray(0, 40)]));
    await midHeader.write(Buffer.concat([frame("whole too"), Buffer.from([0x00])]));
    await g.bytesInReaches(fdP, 7 + 40);
    await g.bytesInReaches(fdH, 11 + 1);
    midPacket.end();
    midHeader.end();
    await g.until("close", 1, fdP);
    await g.until("close", 1, fdH);

    await quietFor(100);
    expect(await packetsNow(agentP)).toEqual([Buffer.from("whole")]);
    expect(await packetsNow(agentH)).toEqual([Buffer.from("whole too")]);
    expect(await g.events("error")).toEqual([]);

    const next = await g.connect();
    const payloads = [pattern(100, 5), Buffer.from("next")];
    await next.send(...payloads);
    expect(await packetsOf(await g.agentOf(await g.fdOf(next)), 2)).toEqual(payloads);
  });

  it("delivers what a client sent before its FIN, then ends the connection and reports the close once", async () => {
    const g = await openGate({}, { onOpen: "accept" });
    const clients = await Promise.all([g.connect(), g.connect(), g.connect()]);
    const fds = await Promise.all(clients.map((c) => g.fdOf(c)));
    for (const [i, c] of clients.entries()) c.socket.end(frames([`last words ${i}`, pattern(1000, i), "bye"]));

    await Promise.all(clients.map((c) => within(c.ended, 5000, "the gate did not end a connection after its client's FIN")));
    await g.until("close", 3);
    for (const [i, fd] of fds.entries()) {
      const events = await g.events(undefined, fd);
      expect(events.map((e) => e.kind)).toEqual(["open", "data", "data", "data", "close"]);
      expect(bytesOf(events.filter((e) => e.kind === "data"))).toEqual([Buffer.from(`last words ${i}`), pattern(1000, i), Buffer.from("bye")]);
    }
  });

  // A reset is how a client goes away (issue 11): a disconnect, not an error, so a client that
  // resets thousands of connections cannot fill the log with errors. The watchdog still learns why.
  it("tells the watchdog `close` with ECONNRESET, not `error`, when a client resets its connection, and counts it as a reset", async () => {
    const g = await openGate({}, { onOpen: "accept" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    await client.send("hello");
    await g.until("data", 1, fd);
    client.socket.resetAndDestroy();

    const [close] = await g.until("close", 1, fd);
    expect(close!.detail).toBe("ECONNRESET");
    expect(await g.events("error", fd)).toEqual([]);
    expect(await g.connections()).toEqual([]);
    expect(await g.rt.call(g.gate, "stats")).toMatchObject({ connections: 0, accepted: 1, resets: 1, closed: 0, errors: 0 });
  });

  it("delivers what a client sent right before its reset, then the close", async () => {
    const g = await openGate({}, { onOpen: "nothing" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    // The data and then the RST wait in the kernel while the gate does not read (before
    // accept). The packets fill Node's 64 KiB read exactly, so the gate meets the reset in the
    // same turn as the data, before it hands that turn's packets on.
    const payloads = Array.from({ length: 64 }, (_, i) => pattern(1022, i));
    const bytes = frames(payloads);
    expect(bytes.length).toBe(65536);
    await client.write(bytes);
    client.socket.resetAndDestroy();
    await client.closed;
    expect(await g.rt.call(g.gate, "accept", fd)).toBe(true);

    const [close] = await g.until("close", 1, fd);
    expect(close!.detail).toBe("ECONNRESET");
    const events = await g.events(undefined, fd);
    expect(events.map((e) => e.kind)).toEqual(["open", ...payloads.map(() => "data"), "close"]);
    expect(bytesOf(events.filter((e) => e.kind === "data"))).toEqual(payloads);
  });
});

describe("listening", () => {
  it("close stops listening while connections already made stay; open listens again", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const client = await g.connect();
    const port = client.socket.remotePort!;
    await g.fdOf(client);
    const err = await rejectionOf(g.rt.call(g.gate, "open", { port: 0 }));
    expect(err.cause.message).toMatch(/already listening/);

    await g.rt.call(g.gate, "close");
    await expect(NetClient.connect(port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await client.send("still here");
    expect(await client.waitPackets(1)).toEqual([Buffer.from("still here")]);

    // Opened from the main thread now, so name the watchdog (else the opener would be it, as in skynet).
    const { port: again } = await g.rt.call(g.gate, "open", { port: 0, watchdog: g.wd });
    const late = await NetClient.connect(again);
    await g.fdOf(late);
    await late.send("late");
    expect(await late.waitPackets(1)).toEqual([Buffer.from("late")]);
  });

  it.each(["gate", "wsgate"] as const)("%s: open on a port in use rejects, and the gate can open elsewhere after", async (service) => {
    const rt = runtime();
    const wd = await rt.newService<typeof Watchdog>("net_watchdog");
    const { gate: first, port: taken } = await rt.call(wd, "start", {}, { service });
    const second = await rt.newService(service);
    onTestFinished(async () => void (await rt.kill(second), await rt.kill(first), await rt.kill(wd)));
    const err = await rejectionOf(rt.call(second, "open", { port: taken, watchdog: wd }));
    expect(err.cause.code).toBe("EADDRINUSE");
    const { port } = await rt.call(second, "open", { port: 0, watchdog: wd });
    expect(port).not.toBe(taken);
  });
});

describe("the idle timeout", () => {
  it("closes a silent connection with an error after `timeout` seconds, while a chatty one stays", async () => {
    const g = await openGate({ timeout: 1 }, { onOpen: "accept" });
    const started = Date.now();
    const silent = await g.connect();
    const chatty = await g.connect();
    const fdS = await g.fdOf(silent);
    const fdC = await g.fdOf(chatty);
    let n = 0;
    const chat = setInterval(() => void chatty.send(`ping ${n++}`).catch(() => undefined), 300);
    onTestFinished(() => clearInterval(chat));

    const [error] = await g.until("error", 1, fdS, 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(error!.detail).toMatch(/no packet for 1 s/);
    await within(silent.closed, 2000, "the silent client was not closed");
    expect(await g.events("close", fdS)).toEqual([]);

    // Twice the timeout into the chat, the chatty connection is still served.
    await g.until("data", 7, fdC, 5000);
    expect(await g.events("error", fdC)).toEqual([]);
    expect((await g.connections()).map((c) => c.fd)).toEqual([fdC]);

    clearInterval(chat);
    const [late] = await g.until("error", 1, fdC, 3000);
    expect(late!.detail).toMatch(/no packet for 1 s/);
  });

  // GateConf.timeout is documented as "seconds without a packet", and the error says "no packet
  // for 1 s"; a client that trickles one byte at a time never sends a packet but is never closed.
  it("closes a connection that trickles bytes but never completes a packet", async () => {
    const g = await openGate({ timeout: 1 }, { onOpen: "accept" });
    const trickler = await g.connect();
    const fd = await g.fdOf(trickler);
    const header = frame(pattern(200));
    let i = 0;
    const trickle = setInterval(() => void trickler.write(header.subarray(i, ++i)).catch(() => undefined), 400);
    onTestFinished(() => clearInterval(trickle));

    const [error] = await g.until("error", 1, fd, 2500);
    expect(error!.detail).toMatch(/no packet for 1 s/);
    expect(await g.events("data", fd)).toEqual([]);
  });
});

describe("handlers that throw", () => {
  it("an agent whose client handler throws loses only that packet; the gate and other connections go on", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true, throwOn: "boom" } });
    const client = await g.connect();
    const other = await g.connect();
    await client.send("a", "boom", "b");
    expect(await client.waitPackets(2)).toEqual([Buffer.from("a"), Buffer.from("b")]);
    const agent = await g.agentOf(await g.fdOf(client));
    await log.waitFor(new RegExp(`${formatHandle(agent)}.*refuses "boom", on purpose`));

    await client.send("c");
    await other.send("x");
    expect(await client.waitPackets(3)).toEqual([Buffer.from("a"), Buffer.from("b"), Buffer.from("c")]);
    expect(await other.waitPackets(1)).toEqual([Buffer.from("x")]);
    expect(await g.connections()).toHaveLength(2);
  });

  it("a gateserver whose message handler throws or rejects keeps serving that connection and the others", async () => {
    const rt = runtime();
    const bad = await rt.newService("net_badgate");
    onTestFinished(async () => void (await rt.kill(bad)));
    const { port } = await rt.call(bad, "open", { port: 0 });
    const client = await NetClient.connect(port);
    const other = await NetClient.connect(port);

    await client.send("1", "boom", "2", "later", "3");
    expect(await client.waitPackets(3)).toEqual(["1", "2", "3"].map((s) => Buffer.from(s)));
    await log.waitFor(new RegExp(`${formatHandle(bad)}.*gate handler message failed.*refuses "boom"`));
    await log.waitFor(new RegExp(`${formatHandle(bad)}.*gate handler message failed.*rejects "later"`));

    await other.send("still", "served");
    expect(await other.waitPackets(2)).toEqual([Buffer.from("still"), Buffer.from("served")]);
    expect(await rt.call(bad, "connections")).toHaveLength(2);
  });
});

describe("the connections command", () => {
  it("lists each connection's fd, peer, bytes in and out and backlog", async () => {
    const g = await openGate({}, { onOpen: "agent", agent: { echo: true } });
    const first = await g.connect();
    const second = await g.connect();
    const fd1 = await g.fdOf(first);
    const fd2 = await g.fdOf(second);
    await first.send(pattern(10), "", pattern(300, 1));
    await second.send("hello");
    await first.waitPackets(3);
    await second.waitPackets(1);

    expect(await g.connections()).toEqual([
      { fd: fd1, peer: first.peer, open: true, bytesIn: 6 + 310, bytesOut: 6 + 310, backlog: 0 },
      { fd: fd2, peer: second.peer, open: true, bytesIn: 7, bytesOut: 7, backlog: 0 },
    ]);
    expect(fd2).toBeGreaterThan(fd1);

    second.end();
    await g.until("close", 1, fd2);
    expect((await g.connections()).map((c) => c.fd)).toEqual([fd1]);
  });
});
