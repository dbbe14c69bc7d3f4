/** Writes every packet of its client back, byte for byte, through the gate. */
import { defineService, type Handle } from "weft";

export default defineService((svc) => {
  let gate: Handle = 0;
  let fd = 0;
  svc.dispatch("client", (msg: Buffer) => {
    // The packet is this agent's (the gate handed it over) and goes straight back: no copy.
    svc.handOver(gate, "write", fd, msg);
  });
  return {
    async start(conf: { gate: Handle; client: number; watchdog: Handle }) {
      gate = conf.gate;
      fd = conf.client;
      await svc.call(gate, "forward", fd);
    },
    close() {
      void svc.exit();
    },
  };
});
