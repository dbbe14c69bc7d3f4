/**
 * A gate under test (TCP `gate` or websocket `wsgate`), its watchdog (fixtures/net_watchdog)
 * and its clients: what the gate and wsgate tests share. Everything it starts ends with the test.
 */
import { onTestFinished } from "vitest";
import type { ConnectionInfo, Handle, Runtime, WsGateConf } from "weft";
import type { GateStats } from "weft/internal";
import type Agent from "./fixtures/net_agent.js";
import type { AgentOptions } from "./fixtures/net_agent.js";
import type Watchdog from "./fixtures/net_watchdog.js";
import type { SocketEvent, SocketEventKind, WatchdogOptions } from "./fixtures/net_watchdog.js";

/** A watchdog with its gate, listening on a fresh port; `connect(...)` makes a client of that port. */
export async function openGate<Client extends { peer: string }, Rest extends unknown[]>(
  rt: Runtime,
  service: "gate" | "wsgate",
  client: (port: number, ...rest: Rest) => Promise<Client>,
  conf: WsGateConf = {},
  options: WatchdogOptions = {},
) {
  // A gate put on a given worker gets its watchdog on another one: the gate's heap is then its own.
  const wd = options.worker === undefined ? await rt.newService<typeof Watchdog>("net_watchdog") : await rt.newServiceOn<typeof Watchdog>(options.worker === 1 ? 2 : 1, "net_watchdog");
  const { gate, port } = await rt.call(wd, "start", conf, { service, ...options });
  const spawned: Handle[] = [gate, wd];
  onTestFinished(async () => {
    for (const agent of [...(await rt.call(wd, "agents")), ...spawned]) await rt.kill(agent);
  });
  const connections = async (): Promise<ConnectionInfo[]> => ((await rt.call(gate, "connections")) as ConnectionInfo[]).sort((a, b) => a.fd - b.fd);
  const connection = async (fd: number) => (await connections()).find((c) => c.fd === fd);
  return {
    rt,
    wd,
    gate,
    port,
    connect: (...rest: Rest) => client(port, ...rest),
    fdOf: (c: Client) => rt.call(wd, "fdOf", c.peer),
    agentOf: (fd: number) => rt.call(wd, "agentOf", fd) as Promise<Handle>,
    until: (kind: SocketEventKind, n: number, fd?: number, ms?: number, detail?: number | string) => rt.call(wd, "until", kind, n, fd, ms, detail),
    events: (kind?: SocketEventKind, fd?: number): Promise<SocketEvent[]> => rt.call(wd, "events", kind, fd),
    connections,
    connection,
    /** An agent started by the test for fd (forwarding unless told otherwise). */
    async newAgent(fd: number, opts: AgentOptions = {}): Promise<Handle> {
      const agent = await rt.newService<typeof Agent>("net_agent");
      spawned.unshift(agent);
      await rt.call(agent, "start", gate, fd, opts);
      return agent;
    },
    /** The gate's counters (its `stats` command). */
    stats: () => rt.call(gate, "stats") as Promise<GateStats>,
    /** Waits until the gate's stats satisfy `ok` (each look is a call, so this never spins idle); answers them. */
    async statsUntil(ok: (s: GateStats) => boolean, what: string, ms = 10_000): Promise<GateStats> {
      const deadline = Date.now() + ms;
      for (;;) {
        const s = (await rt.call(gate, "stats")) as GateStats;
        if (ok(s)) return s;
        if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}; stats ${JSON.stringify(s)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    /** Waits until the gate has read `n` bytes from fd, and answers how many it read. */
    async bytesInReaches(fd: number, n: number): Promise<number> {
      const deadline = Date.now() + 5000;
      for (;;) {
        const c = await connection(fd);
        if (c && c.bytesIn >= n) return c.bytesIn;
        if (Date.now() > deadline) throw new Error(`the gate read ${c?.bytesIn} of ${n} bytes from fd ${fd}`);
      }
    },
  };
}

/** The packets an agent got (`from`..`n` - 1, once it has `n`), as Buffers. */
export const packetsOf = async (rt: Runtime, agent: Handle, n: number, from = 0): Promise<Buffer[]> =>
  ((await rt.call<typeof Agent>(agent, "until", n, from)) as Uint8Array[]).map((p) => Buffer.from(p));

/** The packets an agent got so far. */
export const packetsNow = async (rt: Runtime, agent: Handle): Promise<Buffer[]> => ((await rt.call<typeof Agent>(agent, "packets")) as Uint8Array[]).map((p) => Buffer.from(p));

/** The packets `data` events carried. */
export const bytesOf = (events: SocketEvent[]) => events.map((e) => Buffer.from(e.detail as Uint8Array));
