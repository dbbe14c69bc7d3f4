/**
 * skynet's examples/watchdog.lua: opens a gate, gives each connection an agent, and ends the
 * agent when its client goes (or asks to quit). `start` may be called once per gate kind
 * ("gate", TCP with netpack framing, or "wsgate", websocket): one watchdog serves both, and an
 * agent does not know which gate its client came through.
 *
 * Under supervision (main starts it `permanent`): its gates are permanent too, and each reopens
 * with its last `open` after a restart; they tell the watchdog by its name `.watchdog`, so a
 * restarted watchdog hears them. It remembers which agent serves which connection
 * (`svc.remember`), so a restarted watchdog still ends the right agent, and it monitors its
 * gates and agents: a gate that goes takes its connections (their agents are ended), an agent
 * that goes has its connection kicked.
 */
import { defineService, type GateConf, type Handle } from "weft";
import type Agent from "./agent.js";

/** The gate services this watchdog can start. */
export type GateKind = "gate" | "wsgate";

export interface StartConf extends GateConf {
  /** Which gate to start; default "gate". */
  gate?: GateKind;
}

/** What the watchdog remembers of one connection, under its key. */
interface Served {
  gate: Handle;
  fd: number;
  agent: Handle;
}

/**
 * The gate settings config keys may set for every gate this watchdog opens, over what `start`
 * was given: `weft examples/config.json maxclient=12000` (a benchmark's crowd).
 */
const CONFIG_KEYS = ["maxclient", "backlog", "listeners"] as const;

/**
 * The TCP gate's listening descriptors unless config `listeners` says otherwise: a crowd
 * arriving at once is let in while the gate serves (README, "Accepting under load").
 */
const LISTENERS = 64;

export default defineService(async (svc) => {
  await svc.register(".watchdog");
  const fromConfig = (): GateConf => {
    const conf: GateConf = {};
    for (const key of CONFIG_KEYS) {
      const value = svc.getenv<number>(key);
      if (value !== undefined) conf[key] = value;
    }
    return conf;
  };
  /** Connections are named by gate and fd: each gate numbers its own from 1. */
  const key = (gate: Handle, fd: number) => `${gate}/${fd}`;
  const agents = new Map<string, Served>();
  /** Connections whose agent is still starting, and those of them that went away meanwhile. */
  const starting = new Set<string>();
  const gone = new Set<string>();
  /** Gates being monitored: a gate that goes down takes its connections with it. */
  const gates = new Set<Handle>();

  function serve(served: Served): void {
    const k = key(served.gate, served.fd);
    agents.set(k, served);
    svc.remember(k, served);
    svc.monitor(served.agent, () => {
      // The agent ended (or was lost with its worker): its client has nobody to talk to.
      if (agents.get(k)?.agent !== served.agent) return;
      forget(k);
      svc.send(served.gate, "kick", served.fd);
    });
    watchGate(served.gate);
  }

  function forget(k: string): void {
    agents.delete(k);
    svc.remember(k, undefined);
  }

  function watchGate(gate: Handle): void {
    if (gates.has(gate)) return;
    gates.add(gate);
    svc.monitor(gate, () => {
      gates.delete(gate);
      for (const [k, served] of agents) {
        if (served.gate !== gate) continue;
        forget(k);
        svc.send<typeof Agent>(served.agent, "disconnect");
      }
    });
  }

  // After a restart: the agents of the last instance are still serving their clients.
  for (const served of Object.values(svc.remembered()) as Served[]) serve(served);

  function closeAgent(gate: Handle, fd: number): void {
    const k = key(gate, fd);
    const served = agents.get(k);
    if (served === undefined) {
      if (starting.has(k)) gone.add(k);
      return;
    }
    forget(k);
    svc.send(gate, "kick", fd);
    svc.send<typeof Agent>(served.agent, "disconnect");
  }

  return {
    async start({ gate: kind = "gate", ...conf }: StartConf): Promise<{ address: string; port: number }> {
      if (kind !== "gate" && kind !== "wsgate") throw new TypeError(`gate must be "gate" or "wsgate", not ${JSON.stringify(kind)}`);
      const gate = await svc.newServiceWith({ restart: "permanent" }, kind);
      watchGate(gate);
      const listeners = kind === "gate" ? { listeners: LISTENERS } : {};
      return svc.call(gate, "open", { ...listeners, ...conf, ...fromConfig(), watchdog: ".watchdog" });
    },
    /** The agent asks for it when its client sends `quit`. */
    close(fd: number, gate: Handle): void {
      closeAgent(gate, fd);
    },
    async socket(event: string, fd: number, detail?: unknown): Promise<void> {
      // The gate that tells: read before the first await.
      const gate = svc.source!;
      const k = key(gate, fd);
      switch (event) {
        case "open": {
          starting.add(k);
          let agent: Handle | undefined;
          try {
            agent = await svc.newService<typeof Agent>("agent");
            await svc.call(agent, "start", { gate, client: fd, watchdog: ".watchdog" });
            serve({ gate, fd, agent });
          } catch (err) {
            // No agent for this client: do not leave its socket paused, holding a slot.
            svc.log(`no agent for connection ${fd}: ${(err as Error).message}`);
            svc.send(gate, "kick", fd);
            if (agent !== undefined) void svc.kill(agent);
          } finally {
            starting.delete(k);
          }
          if (gone.delete(k)) closeAgent(gate, fd);
          break;
        }
        case "close":
          closeAgent(gate, fd);
          break;
        case "error":
          svc.log(`socket error on connection ${fd}: ${String(detail)}`);
          closeAgent(gate, fd);
          break;
        case "warning":
          svc.log(`connection ${fd}: ${String(detail)} KiB waiting to be sent`);
          break;
      }
    },
  };
});
