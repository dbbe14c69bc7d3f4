/**
 * A subscriber of the multicast benchmark. It counts what it receives, by multicast or by a
 * plain send (the baseline), in a counter shared by every subscriber of its worker (module
 * state), so one call per worker tells when the whole worker has received everything.
 */
import { defineService, multicast } from "weft";

let received = 0;
let target = Infinity;
let reached: (() => void) | undefined;

function count(): void {
  if (++received === target) reached?.();
}

export default defineService(async (svc, channel: number) => {
  const ch = await multicast.channel<[{ seq: number; body: string }]>(svc, channel);
  await ch.subscribe(count);
  return {
    msg(_message: { seq: number; body: string }): void {
      count();
    },
    /** Resolves once this worker's subscribers have received `more` further messages in all. */
    arm(more: number): Promise<number> {
      target = received + more;
      return new Promise((resolve) => {
        reached = () => resolve(received);
      });
    },
  };
});
