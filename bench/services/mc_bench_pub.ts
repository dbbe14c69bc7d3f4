/**
 * The publisher of the multicast benchmark: the same messages either published on a channel
 * (encoded once, one message per worker) or sent to each subscriber (the baseline: one encoded
 * message per subscriber).
 */
import { defineService, multicast, type Channel } from "weft";

type Message = { seq: number; body: string };

export default defineService(async (svc) => {
  let channel: Channel<[Message]> | undefined;
  let subscribers: number[] = [];
  return {
    async create(): Promise<number> {
      channel = await multicast.create(svc);
      return channel.id;
    },
    setSubscribers(list: number[]): void {
      subscribers = list;
    },
    async publish(count: number, size: number): Promise<void> {
      const body = "x".repeat(size);
      for (let seq = 0; seq < count; seq++) await channel!.publish({ seq, body });
    },
    sendEach(count: number, size: number): void {
      const body = "x".repeat(size);
      for (let seq = 0; seq < count; seq++) for (const sub of subscribers) svc.send(sub, "msg", { seq, body });
    },
  };
});
