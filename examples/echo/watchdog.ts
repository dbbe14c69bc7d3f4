/**
 * Starts the gate and gives each connection an echo agent; ends the agent when its client goes.
 * The gate and the agents live on this watchdog's worker: an echo agent's work is tiny, and a
 * hop to another thread and back would cost more than it does (newServiceOn("same")).
 */
import { defineService, type GateConf, type Handle } from "weft";
import type Agent from "./agent.js";

export default defineService(async (svc) => {
  const gate = await svc.newServiceOn("same", "gate");
  const agents = new Map<number, Handle>();
  /** Connections that closed while their agent was still starting. */
  const gone = new Set<number>();

  const close = (fd: number) => {
    const agent = agents.get(fd);
    if (agent === undefined) {
      gone.add(fd);
      return;
    }
    agents.delete(fd);
    svc.send<typeof Agent>(agent, "close");
  };

  return {
    start(conf: GateConf): Promise<{ address: string; port: number }> {
      return svc.call(gate, "open", conf);
    },
    async socket(event: string, fd: number, detail?: unknown) {
      switch (event) {
        case "open": {
          const agent = await svc.newServiceOn<typeof Agent>("same", "agent");
          await svc.call(agent, "start", { gate, client: fd, watchdog: svc.self });
          if (gone.delete(fd)) svc.send(agent, "close");
          else agents.set(fd, agent);
          break;
        }
        case "close":
        case "error":
          close(fd);
          break;
        case "warning":
          svc.log(`connection ${fd}: ${String(detail)} KiB waiting to be sent`);
          break;
      }
    },
  };
});
