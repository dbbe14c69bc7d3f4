/**
 * Inbound backpressure of the ready gate (issue 11), on both gates over real sockets: a
 * connection is not read while the service its packets go to (its agent, or the watchdog for
 * an accepted connection) is loaded past `inboundMark`, and is read again once that service
 * drained; nothing is lost meanwhile. The loaded service here is a test agent (or watchdog)
 * whose handlers wait until it is released, so its load is exactly the packets it was given.
 */
import { describe, expect, it } from "vitest";
import type { WsGateConf } from "weft";
import type Agent from "./fixtures/net_agent.js";
import type { WatchdogOptions } from "./fixtures/net_watchdog.js";
import { bytesOf, openGate as openGateOf, packetsNow, packetsOf } from "./gate-harness.js";
import { useRuntime } from "./helpers.js";
import { digest, NetClient, pattern, quietFor } from "./net-client.js";
import { WsClient } from "./ws-client.js";

const runtime = useRuntime();
const MARK = 50;
const SIZE = 1000;

const connectTo = {
  gate: (port: number) => NetClient.connect(port),
  wsgate: (port: number) => WsClient.connect(port),
};

describe.each(["gate", "wsgate"] as const)("%s", (service) => {
  const openGate = (conf: WsGateConf = {}, options: WatchdogOptions = {}) =>
    openGateOf(runtime(), service, connectTo[service] as (port: number) => Promise<NetClient | WsClient>, conf, options);

  it("stops reading a connection whose agent is loaded past inboundMark, and reads the rest, in order, once it drains", async () => {
    const g = await openGate({ inboundMark: MARK }, { onOpen: "agent", agent: { stall: true } });
    const client = await g.connect();
    const bystander = await g.connect();
    const fd = await g.fdOf(client);
    const agent = await g.agentOf(fd);
    const fdB = await g.fdOf(bystander);
    const agentB = await g.agentOf(fdB);
    // 20 MB: far more than the mark, and more than a socket's kernel buffers take.
    const payloads = Array.from({ length: 20_000 }, (_, i) => pattern(SIZE, i));
    void client.send(...payloads).catch(() => undefined);

    const held = await g.statsUntil((s) => s.pausedFor.backpressure === 1, "the gate to stop reading the flooding client");
    expect(held).toMatchObject({ paused: 1, connections: 2 });
    expect(await g.rt.call(g.gate, "inbound")).toEqual({ targets: 2, full: 1 });
    const { bytesIn } = (await g.connection(fd))!;
    await quietFor(200);
    expect((await g.connection(fd))!.bytesIn).toBe(bytesIn);
    // The agent holds what the gate read before it heard that the load passed the mark (the
    // news crosses threads while the socket is read at loopback speed): some reads' worth,
    // not the flood.
    const got = (await packetsNow(g.rt, agent)).length;
    expect(got).toBeGreaterThanOrEqual(MARK);
    expect(got).toBeLessThan(payloads.length / 2);

    // The bystander's agent is not loaded: it is still read.
    await bystander.send("still read");
    expect(await packetsOf(g.rt, agentB, 1)).toEqual([Buffer.from("still read")]);

    await g.rt.call<typeof Agent>(agent, "release");
    expect(digest(await packetsOf(g.rt, agent, payloads.length))).toEqual(digest(payloads));
    expect(await g.statsUntil((s) => s.paused === 0, "the gate to read the client again")).toMatchObject({ pausedFor: { backpressure: 0, rate: 0, backlog: 0 } });
  });

  it("stops reading accepted connections while the watchdog is loaded, with one watch for all of them", async () => {
    const g = await openGate({ inboundMark: MARK }, { onOpen: "accept", stall: true });
    const clients = [await g.connect(), await g.connect()];
    const fds = await Promise.all(clients.map((c) => g.fdOf(c)));
    const payloads = Array.from({ length: 2000 }, (_, i) => pattern(SIZE, i));
    void clients[0]!.send(...payloads).catch(() => undefined);

    await g.statsUntil((s) => s.pausedFor.backpressure === 2, "both accepted connections to be held");
    expect(await g.rt.call(g.gate, "inbound")).toEqual({ targets: 1, full: 1 });
    await clients[1]!.send("waits");
    await quietFor(100);
    expect(await g.events("data", fds[1])).toEqual([]);

    await g.rt.call(g.wd, "release");
    expect(digest(bytesOf(await g.until("data", payloads.length, fds[0], 20_000)))).toEqual(digest(payloads));
    expect(bytesOf(await g.until("data", 1, fds[1]))).toEqual([Buffer.from("waits")]);
    await g.statsUntil((s) => s.paused === 0, "the gate to read both again");
  });

  it("drops its watch with the last connection forwarded to an agent", async () => {
    const g = await openGate({}, { onOpen: "agent" });
    const client = await g.connect();
    const fd = await g.fdOf(client);
    await g.agentOf(fd);
    expect(await g.rt.call(g.gate, "inbound")).toEqual({ targets: 1, full: 0 });
    if (client instanceof NetClient) client.end();
    else client.close();
    await g.until("close", 1, fd);
    expect(await g.rt.call(g.gate, "inbound")).toEqual({ targets: 0, full: 0 });
  });
});
