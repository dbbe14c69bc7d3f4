/**
 * lib/group: a room's connections, written to through the gates that hold them, one message per
 * gate per broadcast, over real sockets.
 */
import { describe, expect, it } from "vitest";
import { type Handle, type Runtime } from "weft";
import type Watchdog from "./fixtures/net_watchdog.js";
import { startRuntime } from "./helpers.js";
import { NetClient } from "./net-client.js";
import { WsClient } from "./ws-client.js";

/** A gate with `n` clients connected; `fds[i]` is the fd of `clients[i]`. */
async function gateWithClients(rt: Runtime, n: number) {
  const wd = await rt.newService<typeof Watchdog>("net_watchdog");
  const { gate, port } = await rt.call(wd, "start", { port: 0, maxclient: n + 10 }, { onOpen: "accept" });
  const clients = await Promise.all(Array.from({ length: n }, () => NetClient.connect(port)));
  const fds = await Promise.all(clients.map((c) => rt.call(wd, "fdOf", c.peer)));
  return { wd, gate: gate as Handle, clients, fds };
}

/** How many messages the gate has handled (the debug protocol's stat). */
const handled = async (rt: Runtime, gate: Handle) => ((await rt.rawCall(gate, "debug", { cmd: "stat" })) as { messages: number }).messages;

const text = (packets: Buffer[]) => packets.map((p) => p.toString());

describe("group", () => {
  it("broadcast reaches every member once, and multicast only those the filter picks", async () => {
    const rt = await startRuntime();
    const { gate, clients, fds } = await gateWithClients(rt, 20);
    const room = await rt.newService("grp_room");
    for (let i = 0; i < fds.length; i++) expect(await rt.call(room, "add", gate, fds[i], i)).toBe(true);
    expect(await rt.call(room, "add", gate, fds[0], 0)).toBe(false);
    expect(await rt.call(room, "count")).toBe(20);

    expect(await rt.call(room, "broadcast", "hello")).toBe(20);
    expect(await rt.call(room, "evens", "for evens")).toBe(10);
    expect(await rt.call(room, "broadcast", "bye")).toBe(20);
    await Promise.all(
      clients.map(async (c, i) => {
        const expected = i % 2 === 0 ? ["hello", "for evens", "bye"] : ["hello", "bye"];
        expect(text(await c.waitPackets(expected.length))).toEqual(expected);
      }),
    );
  });

  it("sends one message per gate per broadcast, whatever the number of members", async () => {
    const rt = await startRuntime();
    const a = await gateWithClients(rt, 30);
    const b = await gateWithClients(rt, 5);
    const room = await rt.newService("grp_room");
    for (const [i, fd] of a.fds.entries()) await rt.call(room, "add", a.gate, fd, i);
    for (const [i, fd] of b.fds.entries()) await rt.call(room, "add", b.gate, fd, 100 + i);

    // Reading the count costs messages of its own: measure that first, then a broadcast between two reads.
    const first = await handled(rt, a.gate);
    const idle = (await handled(rt, a.gate)) - first;
    const before = [await handled(rt, a.gate), await handled(rt, b.gate)];
    expect(await rt.call(room, "broadcast", "one")).toBe(35);
    const after = [await handled(rt, a.gate), await handled(rt, b.gate)];
    expect(after[0]! - before[0]!).toBe(idle + 1);
    expect(after[1]! - before[1]!).toBe(idle + 1);
    for (const c of [...a.clients, ...b.clients]) expect(text(await c.waitPackets(1))).toEqual(["one"]);
  });

  it("drops members whose connection closed, and leave stops delivery", async () => {
    const rt = await startRuntime();
    const { wd, gate, clients, fds } = await gateWithClients(rt, 4);
    const room = await rt.newService("grp_room");
    for (const [i, fd] of fds.entries()) await rt.call(room, "add", gate, fd, i);

    clients[0]!.destroy();
    await rt.call(wd, "until", "close", 1, fds[0]);
    expect(await rt.call(room, "leave", gate, fds[1])).toBe(true);
    expect(await rt.call(room, "leave", gate, fds[1])).toBe(false);

    // The gate answers that fds[0] is gone: the group forgets it.
    expect(await rt.call(room, "broadcast", "still here")).toBe(2);
    expect(await rt.call(room, "count")).toBe(2);
    expect(await rt.call(room, "has", gate, fds[0])).toBe(false);
    expect((await rt.call(room, "members")).map((m: { fd: number }) => m.fd).sort()).toEqual([fds[2], fds[3]].sort());
    for (const c of clients.slice(2)) expect(text(await c.waitPackets(1))).toEqual(["still here"]);
    // fds[1] left: its next packet is one written to it alone, not the broadcast.
    await rt.call(gate, "write", fds[1], "direct");
    expect(text(await clients[1]!.waitPackets(1))).toEqual(["direct"]);
  });

  it("broadcasts through a websocket gate and a TCP gate at once, one message per client each", async () => {
    const rt = await startRuntime();
    const tcp = await gateWithClients(rt, 3);
    const wd = await rt.newService<typeof Watchdog>("net_watchdog");
    const ws = await rt.call(wd, "start", { port: 0 }, { service: "wsgate", onOpen: "accept" });
    const browsers = await Promise.all([1, 2, 3].map(() => WsClient.connect(ws.port)));
    const room = await rt.newService("grp_room");
    for (const [i, fd] of tcp.fds.entries()) await rt.call(room, "add", tcp.gate, fd, i);
    for (const [i, b] of browsers.entries()) await rt.call(room, "add", ws.gate, await rt.call(wd, "fdOf", b.peer), 10 + i);
    expect(await rt.call(room, "broadcast", "to all")).toBe(6);
    expect(await rt.call(room, "evens", "to evens")).toBe(4);
    for (const [i, c] of tcp.clients.entries()) expect(text(await c.waitPackets(i % 2 ? 1 : 2))).toEqual(i % 2 ? ["to all"] : ["to all", "to evens"]);
    for (const [i, b] of browsers.entries()) expect(text(await b.waitMessages(i % 2 ? 1 : 2))).toEqual(i % 2 ? ["to all"] : ["to all", "to evens"]);
  });

  it("a packet the gate refuses (over 65535 bytes) rejects the broadcast and keeps every member", async () => {
    const rt = await startRuntime();
    const { gate, clients, fds } = await gateWithClients(rt, 3);
    const room = await rt.newService("grp_room");
    for (const [i, fd] of fds.entries()) await rt.call(room, "add", gate, fd, i);
    await expect(rt.call(room, "broadcastBytes", 70_000)).rejects.toThrow(/70000 bytes exceeds the 65535-byte limit/);
    expect(await rt.call(room, "count")).toBe(3);
    // Nothing of the refused packet went out: the first packet each client gets is the next one.
    expect(await rt.call(room, "broadcastBytes", 65_535)).toBe(3);
    for (const c of clients) expect((await c.waitPackets(1)).map((p) => p.length)).toEqual([65_535]);
  });

  it("a gate that exited takes its members with it; a closed group refuses use", async () => {
    const rt = await startRuntime();
    const a = await gateWithClients(rt, 2);
    const b = await gateWithClients(rt, 2);
    const room = await rt.newService("grp_room");
    for (const [i, fd] of [...a.fds, ...b.fds].entries()) await rt.call(room, "add", i < 2 ? a.gate : b.gate, fd, i);
    await rt.kill(b.gate);
    expect(await rt.call(room, "broadcast", "after")).toBe(2);
    expect(await rt.call(room, "count")).toBe(2);
    for (const c of a.clients) expect(text(await c.waitPackets(1))).toEqual(["after"]);

    await rt.call(room, "close");
    await expect(rt.call(room, "broadcast", "x")).rejects.toThrow(/group "room" is closed/);
    expect(await rt.call(room, "count")).toBe(0);
  });
});
