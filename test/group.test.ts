/**
 * lib/group: a room's connections, written to through the gates that hold them, one message per
 * gate per broadcast, over real sockets.
 */
import { describe, expect, it } from "vitest";
import { type Handle, type Runtime } from "weft";
import type Watchdog from "./fixtures/net_watchdog.js";
import { startRuntime } from "./helpers.js";
import { NetClient } from "./net-client.js";

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
