/**
 * skynet's examples/watchdog.lua: opens a gate, gives each connection an agent, and ends the
 * agent when its client goes (or asks to quit). `start` may be called once per gate kind
 * ("gate", TCP with netpack framing, or "wsgate", websocket): one watchdog serves both, and an
 * agent does not know which gate its client came through.
 */
import { defineService, type GateConf, type Handle } from "weft";
import type Agent from "./agent.js";

/** The gate services this watchdog can start. */
export type GateKind = "gate" | "wsgate";

export interface StartConf extends GateConf {
  /** Which gate to start; default "gate". */
  gate?: GateKind;
}

export default defineService(async (svc) => {
  /** Connections are named by gate and fd: each gate numbers its own from 1. */
  const key = (gate: Handle, fd: number) => `${gate}/${fd}`;
  const agents = new Map<string, Handle>();
  /** Connections whose agent is still starting, and those of them that went away meanwhile. */
  const starting = new Set<string>();
  const gone = new Set<string>();

  function closeAgent(gate: Handle, fd: number): void {
    const k = key(gate, fd);
    const agent = agents.get(k);
    if (agent === undefined) {
      if (starting.has(k)) gone.add(k);
      return;
    }
    agents.delete(k);
    svc.send(gate, "kick", fd);
    svc.send<typeof Agent>(agent, "disconnect");
  }

  return {
    async start({ gate: kind = "gate", ...conf }: StartConf): Promise<{ address: string; port: number }> {
      if (kind !== "gate" && kind !== "wsgate") throw new TypeError(`gate must be "gate" or "wsgate", not ${JSON.stringify(kind)}`);
      const gate = await svc.newService(kind);
      return svc.call(gate, "open", conf);
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
            await svc.call(agent, "start", { gate, client: fd, watchdog: svc.self });
            agents.set(k, agent);
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
