/**
 * The group benchmark's room: it opens a gate whose connections only receive, puts every
 * connection in one lib/group, and broadcasts on demand.
 */
import { defineService, group, type Handle } from "weft";

export default defineService(async (svc) => {
  const gate: Handle = await svc.newServiceOn("same", "gate");
  const room = group(svc, "bench");
  return {
    open: () => svc.call(gate, "open", { port: 0, maxclient: 20_000, watchdog: svc.self }),
    socket(event: string, fd: number): void {
      if (event === "open") room.add(gate, fd);
      else if (event === "close" || event === "error") room.leave(gate, fd);
    },
    count: () => room.count(),
    /**
     * Broadcasts `n` packets of `size` bytes, at most `window` broadcasts unanswered at once;
     * answers with the connections reached in all and the ms it took to hand them to the gate.
     */
    async blast(n: number, size: number, window: number): Promise<{ written: number; ms: number }> {
      const packet = new Uint8Array(size).fill(0x61);
      const started = performance.now();
      let written = 0;
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; i < n; i++) {
        const p: Promise<void> = room.broadcast(packet).then((k) => {
          written += k;
          inFlight.delete(p);
        });
        inFlight.add(p);
        if (inFlight.size >= window) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      return { written, ms: performance.now() - started };
    },
  };
});
