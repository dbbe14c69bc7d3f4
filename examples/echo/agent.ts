/** Writes every packet of its client back, byte for byte, through the gate. */
import { clientWriter, defineService, type Handle } from "weft";

export default defineService((svc) => {
  let write: (packet: Uint8Array) => void = () => {};
  svc.dispatch("client", (msg: Buffer) => {
    // The gate's reply lane: the packet is this agent's (the gate handed it over) and goes
    // straight back, no copy, with the fd in the message's header instead of a command.
    write(msg);
  });
  return {
    async start(conf: { gate: Handle; client: number; watchdog: Handle }) {
      write = clientWriter(svc, conf.gate, conf.client);
      await svc.call(conf.gate, "forward", conf.client);
    },
    close() {
      void svc.exit();
    },
  };
});
