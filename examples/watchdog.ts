/**
 * skynet's examples/watchdog.lua: opens the gate, gives each connection an agent, and ends
 * the agent when its client goes (or asks to quit).
 */
import { defineService, type GateConf, type Handle } from "weft";
import type Agent from "./agent.js";

export default defineService(async (svc) => {
  const gate = await svc.newService("gate");
  const agents = new Map<number, Handle>();
  /** Connections whose agent is still starting, and those of them that went away meanwhile. */
  const starting = new Set<number>();
  const gone = new Set<number>();

  function closeAgent(fd: number): void {
    const agent = agents.get(fd);
    if (agent === undefined) {
      if (starting.has(fd)) gone.add(fd);
      return;
    }
    agents.delete(fd);
    svc.send(gate, "kick", fd);
    svc.send<typeof Agent>(agent, "disconnect");
  }

  return {
    start(conf: GateConf): Promise<{ address: string; port: number }> {
      return svc.call(gate, "open", conf);
    },
    /** The agent asks for it when its client sends `quit`. */
    close(fd: number): void {
      closeAgent(fd);
    },
    async socket(event: string, fd: number, detail?: unknown): Promise<void> {
      switch (event) {
        case "open": {
          starting.add(fd);
          let agent: Handle | undefined;
          try {
            agent = await svc.newService<typeof Agent>("agent");
            await svc.call(agent, "start", { gate, client: fd, watchdog: svc.self });
            agents.set(fd, agent);
          } catch (err) {
            // No agent for this client: do not leave its socket paused, holding a slot.
            svc.log(`no agent for connection ${fd}: ${(err as Error).message}`);
            svc.send(gate, "kick", fd);
            if (agent !== undefined) void svc.kill(agent);
          } finally {
            starting.delete(fd);
          }
          if (gone.delete(fd)) closeAgent(fd);
          break;
        }
        case "close":
          closeAgent(fd);
          break;
        case "error":
          svc.log(`socket error on connection ${fd}: ${String(detail)}`);
          closeAgent(fd);
          break;
        case "warning":
          svc.log(`connection ${fd}: ${String(detail)} KiB waiting to be sent`);
          break;
      }
    },
  };
});
