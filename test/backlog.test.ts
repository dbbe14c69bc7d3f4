/**
 * The unsent-backlog policy (DESIGN.md, "Gate and gateserver"; lib/backlog.ts): warn when a
 * connection's backlog passes 1 MiB, again at each doubling, 0 once it drained; past the hard
 * limit, close the connection instead. First as the pure function it is (backlogCheck, from
 * weft/internal), at every boundary; then on real connections, where an agent floods a client
 * that does not read.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it, onTestFinished } from "vitest";
import { defaults, type ConnectionInfo, type GateConf, type Handle, type Runtime } from "weft";
import { backlogCheck, backlogState, holdsReading } from "weft/internal";
import { floodPacket, type AgentOptions } from "./fixtures/net_agent.js";
import type Agent from "./fixtures/net_agent.js";
import type Watchdog from "./fixtures/net_watchdog.js";
import type { SocketEvent } from "./fixtures/net_watchdog.js";
import { useRuntime } from "./helpers.js";
import { digest, NetClient, within } from "./net-client.js";

const SIZE = 65534;
const WIRE = SIZE + 2;
const MiB = 1024 * 1024;

/** What backlogCheck answers for each backlog size in turn, from a fresh state. */
function run(sizes: number[], warnAt = MiB, limit = 64 * MiB) {
  const state = backlogState();
  return sizes.map((bytes) => backlogCheck(state, bytes, warnAt, limit));
}
const none = { kind: "none" };
const warn = (kib: number) => ({ kind: "warn", kib });
const drained = { kind: "drained" };

describe("backlogCheck, the policy as a function of numbers", () => {
  it("says nothing up to the threshold, then warns just past it, in KiB rounded down", () => {
    expect(run([0, 1, MiB - 1, MiB])).toEqual([none, none, none, none]);
    expect(run([MiB + 1])).toEqual([warn(1024)]);
    expect(run([MiB + 1535])).toEqual([warn(1025)]);
  });

  it("warns again only past each doubling", () => {
    expect(run([MiB + 1, 1.5 * MiB, 2 * MiB, 2 * MiB + 1, 3 * MiB, 4 * MiB, 4 * MiB + 1, 8 * MiB + 1024])).toEqual([
      warn(1024), none, none, warn(2048), none, none, warn(4096), warn(8193),
    ]);
  });

  it("gives one warning for a jump over several doublings, the next one past the power of two above it", () => {
    expect(run([5 * MiB, 7 * MiB, 8 * MiB, 8 * MiB + 1])).toEqual([warn(5120), none, none, warn(8192)]);
  });

  it("says 0 once when a backlog it warned about drains, then starts again from the threshold", () => {
    expect(run([2 * MiB + 1, 0, 0, MiB, MiB + 1])).toEqual([warn(2048), drained, none, none, warn(1024)]);
  });

  it("says nothing when a backlog it never warned about drains", () => {
    expect(run([MiB, 0])).toEqual([none, none]);
  });

  it("neither drains nor warns again while a backlog shrinks without emptying and grows back below the next doubling", () => {
    expect(run([2 * MiB + 1, 1, MiB, 3 * MiB, 4 * MiB + 1])).toEqual([warn(2048), none, none, none, warn(4096)]);
  });

  it("closes past the hard limit, which itself is still allowed, even where it would warn", () => {
    expect(run([3 * MiB, 3 * MiB + 1], MiB, 3 * MiB)).toEqual([warn(3072), { kind: "close", bytes: 3 * MiB + 1 }]);
    expect(run([MiB + 1, 64 * MiB + 1])).toEqual([warn(1024), { kind: "close", bytes: 64 * MiB + 1 }]);
  });

  it("closes without a warning when the limit is below the threshold", () => {
    expect(run([512 * 1024, 512 * 1024 + 1], MiB, 512 * 1024)).toEqual([none, { kind: "close", bytes: 512 * 1024 + 1 }]);
  });

  it("doubles the same way from any threshold", () => {
    expect(run([100, 101, 200, 201, 401, 0, 101], 100, 10_000)).toEqual([none, warn(0), none, warn(0), warn(0), drained, warn(0)]);
  });

  it("is used by the gate with the defaults: 1 MiB to warn, 64 MiB to close", () => {
    expect(defaults.backlogWarning).toBe(MiB);
    expect(defaults.backlogLimit).toBe(64 * MiB);
  });

  // A threshold of 0 is doubled forever (0 * 2 = 0): the thread never comes back. Run in a worker
  // so the loop cannot take the test process with it.
  it("comes back (with an answer or an error) when the threshold is 0", async () => {
    const internal = new URL("../dist/internal.js", import.meta.url).href;
    const worker = new Worker(
      `const { parentPort } = require("node:worker_threads");
       import(${JSON.stringify(internal)}).then((m) => {
         parentPort.postMessage("loaded");
         try { parentPort.postMessage(m.backlogCheck(m.backlogState(), 10, 0, 100)); }
         catch (err) { parentPort.postMessage({ threw: String(err) }); }
       });`,
      { eval: true },
    );
    onTestFinished(() => void worker.terminate());
    const messages: unknown[] = [];
    const outcome = await new Promise((resolve) => {
      worker.on("message", (m) => (m === "loaded" ? messages.push(m) : resolve(m)));
      worker.once("error", (err) => resolve({ workerFailed: String(err) }));
      setTimeout(() => resolve("no answer after 1 s"), 1000);
    });
    expect(messages).toEqual(["loaded"]);
    expect(outcome).toSatisfy((o: any) => o?.kind !== undefined || o?.threw !== undefined);
  });
});

describe("holdsReading: when the gate stops reading a connection for its backlog", () => {
  it("stops just past the warning mark and reads again at half of it, not before", () => {
    expect(holdsReading(false, MiB, MiB)).toBe(false);
    expect(holdsReading(false, MiB + 1, MiB)).toBe(true);
    expect(holdsReading(true, MiB, MiB)).toBe(true);
    expect(holdsReading(true, MiB / 2 + 1, MiB)).toBe(true);
    expect(holdsReading(true, MiB / 2, MiB)).toBe(false);
    expect(holdsReading(true, 0, MiB)).toBe(false);
  });

  it("does not stop between the marks if it was reading", () => {
    expect(holdsReading(false, 0.75 * MiB, MiB)).toBe(false);
  });
});

/** A gate whose connections each get a non-echoing agent, and a client that stopped reading. */
async function pausedClient(rt: Runtime, conf: GateConf = {}) {
  const wd = await rt.newService<typeof Watchdog>("net_watchdog");
  const agent: AgentOptions = { echo: false };
  const { gate, port } = await rt.call(wd, "start", conf, { onOpen: "agent", agent });
  onTestFinished(async () => {
    for (const h of [...(await rt.call(wd, "agents")), gate, wd]) await rt.kill(h);
  });
  const connect = async () => {
    const client = await NetClient.connect(port);
    const fd = await rt.call(wd, "fdOf", client.peer);
    const handle = (await rt.call(wd, "agentOf", fd)) as Handle;
    return { client, fd, agent: handle };
  };
  const first = await connect();
  first.client.pause();
  return {
    rt,
    wd,
    gate,
    connect,
    ...first,
    /** `count` flood packets to the paused client, in one writev. */
    flood: (count: number) => rt.call<typeof Agent>(first.agent, "flood", count, SIZE, count),
    /** Waits for the `n`th "drained" (0) warning of the client's fd. */
    drained: (n = 1) => rt.call(wd, "until", "warning", n, first.fd, 10_000, 0),
    warnings: async (): Promise<number[]> => ((await rt.call(wd, "events", "warning", first.fd)) as SocketEvent[]).map((e) => e.detail as number),
    connection: async () => ((await rt.call(gate, "connections")) as ConnectionInfo[]).find((c) => c.fd === first.fd),
  };
}

const floodPackets = (count: number) => Array.from({ length: count }, (_, i) => floodPacket(i, SIZE));

describe("on real connections", () => {
  const runtime = useRuntime();
  const paused = (conf?: GateConf) => pausedClient(runtime(), conf);

  describe("the backlog warning of a client that does not read", () => {
    it("warns past 1 MiB, again at each doubling, and with 0 once the client reads it all", async () => {
      const g = await paused();
      const count = 256; // 16 MiB
      expect(await g.flood(count)).toBe(count * WIRE);
      expect(await g.connection()).toMatchObject({ bytesOut: count * WIRE, backlog: expect.toSatisfy((n: number) => n > 8 * MiB) });

      g.client.resume();
      expect(digest(await g.client.waitPackets(count))).toEqual(digest(floodPackets(count)));
      await g.drained();
      // Packets 17, 33, 65 and 129 take the backlog past 1, 2, 4 and 8 MiB; 16 MiB is not passed.
      expect(await g.warnings()).toEqual([1088, 2112, 4160, 8256, 0]);
      expect((await g.connection())!.backlog).toBe(0);
    });

    it("says nothing while the backlog stays within 1 MiB", async () => {
      const g = await paused();
      const count = 16; // exactly 1 MiB: not past it
      await g.flood(count);
      expect((await g.connection())!.backlog).toBeLessThanOrEqual(MiB);
      g.client.resume();
      await g.client.waitPackets(count);
      // A later event from the gate to the watchdog: any warning would have come before it.
      const marker = await g.connect();
      marker.client.end();
      await g.rt.call(g.wd, "until", "close", 1, marker.fd);
      expect(await g.warnings()).toEqual([]);
    });

    it("starts again from 1 MiB when the backlog builds up anew after draining", async () => {
      const g = await paused();
      await g.flood(24); // 1.5 MiB
      g.client.resume();
      await g.client.waitPackets(24);
      await g.drained(1);
      expect(await g.warnings()).toEqual([1088, 0]);

      g.client.pause();
      await g.flood(40); // 2.5 MiB, packets 0..39 again
      g.client.resume();
      expect(digest(await g.client.waitPackets(64))).toEqual(digest([...floodPackets(24), ...floodPackets(40)]));
      await g.drained(2);
      expect(await g.warnings()).toEqual([1088, 0, 1088, 2112, 0]);
    });
  });

  describe("the hard cap on a connection's backlog", () => {
    it("closes the connection with an error, not a close, when the backlog passes backlogLimit", async () => {
      const g = await paused({ backlogLimit: 2 * MiB });
      const bystander = await g.connect();
      await g.flood(64); // 4 MiB offered

      const [error] = (await g.rt.call(g.wd, "until", "error", 1, g.fd)) as SocketEvent[];
      // Packet 33 takes the backlog past the limit; packet 17 gave the only warning.
      expect(error!.detail).toBe(`unsent backlog of ${33 * WIRE} bytes passed the limit of ${2 * MiB}`);
      expect(await g.warnings()).toEqual([1088]);

      g.client.resume();
      await within(g.client.closed, 5000, "the client over the limit was not closed");
      // What reached the client before the cut is a whole prefix of the flood, nothing past packet 33.
      const got = g.client.packets;
      expect(got.length).toBeLessThanOrEqual(33);
      expect(digest(got)).toEqual(digest(floodPackets(got.length)));
      expect((await g.rt.call(g.gate, "connections")) as ConnectionInfo[]).toEqual([expect.objectContaining({ fd: bystander.fd })]);

      // The gate and its other connection carry on; the watchdog heard "error" and never "close".
      expect(await g.rt.call(g.gate, "write", bystander.fd, "still served")).toBe(true);
      expect(await bystander.client.waitPackets(1)).toEqual([Buffer.from("still served")]);
      bystander.client.end();
      await g.rt.call(g.wd, "until", "close", 1, bystander.fd);
      expect(await g.rt.call(g.wd, "events", "close", g.fd)).toEqual([]);
      expect(await g.warnings()).toEqual([1088]);
    });
  });
});
