/**
 * multicastd (skynet's service/multicastd): one per runtime, started by lib/multicast as a
 * unique service. It hands out channel ids and keeps, per channel, how many subscribers each
 * worker has. It is not on the publish path: it tells every worker's deliverer
 * (multicast_worker) which workers have subscribers, and publishers send straight to those.
 *
 * Every change is broadcast to all deliverers and acknowledged before the command answers, so
 * once `create` or a subscription's `count` returns, a publish from any worker sees it.
 */
import { defineService, NoSuchChannelError, type ChannelInfo, type Handle } from "weft";
import { isGone, type ChannelUpdate, type MulticastSnapshot } from "weft/internal";

interface ChannelState {
  /** Subscribers per worker slot; a worker with none has no key. */
  readonly counts: Map<number, number>;
  /** The last report number per worker: a report that arrives late is ignored. */
  readonly seqs: Map<number, number>;
  /** The latest route broadcast: a report answers only after it, so its caller sees the route. */
  settled: Promise<void>;
}

export default defineService((svc) => {
  let nextId = 1;
  const channels = new Map<number, ChannelState>();
  /** Each worker's deliverer, by slot. */
  const deliverers = new Map<number, Handle>();

  const missing = (id: number) =>
    new NoSuchChannelError(id > 0 && id < nextId ? `multicast channel ${id} was deleted` : `there is no multicast channel ${id}`);

  function infoOf(id: number, state: ChannelState): ChannelInfo {
    let subscribers = 0;
    for (const n of state.counts.values()) subscribers += n;
    return { id, subscribers, workers: Object.fromEntries(state.counts) };
  }
  // The console's `info`: every live channel.
  svc.setInfo(() => [...channels].map(([id, state]) => infoOf(id, state)));

  function routeOf(state: ChannelState): Handle[] {
    return [...state.counts.keys()]
      .sort((a, b) => a - b)
      .flatMap((slot) => {
        const deliverer = deliverers.get(slot);
        return deliverer === undefined ? [] : [deliverer];
      });
  }

  async function broadcast(update: ChannelUpdate): Promise<void> {
    await Promise.all(
      [...deliverers].map(([slot, deliverer]) =>
        svc.call(deliverer, "update", update).catch((err: unknown) => {
          // Only a deliverer that is gone loses its worker's subscribers; anything else is a bug to see.
          if (isGone(err)) forget(slot, deliverer);
          else svc.log(`multicast update to ${deliverer} failed: ${(err as Error).message}`);
        }),
      ),
    );
  }

  function reroute(id: number, state: ChannelState): Promise<void> {
    const done = broadcast({ op: "route", id, route: routeOf(state) });
    state.settled = done;
    return done;
  }

  /** A deliverer is gone (killed, its worker died, or the runtime is stopping): so are that worker's subscribers. */
  function forget(slot: number, deliverer: Handle): void {
    if (deliverers.get(slot) !== deliverer) return;
    deliverers.delete(slot);
    dropWorker(slot);
  }

  function dropWorker(slot: number): void {
    for (const [id, state] of channels) {
      state.seqs.delete(slot);
      if (state.counts.delete(slot)) void reroute(id, state);
    }
  }

  return {
    /** A worker's deliverer has started: from now on it gets every change. */
    attach(slot: number, deliverer: Handle): MulticastSnapshot {
      const old = deliverers.get(slot);
      deliverers.set(slot, deliverer);
      // A new deliverer for a slot means a new worker: the old one's subscribers went with it.
      if (old !== undefined && old !== deliverer) dropWorker(slot);
      return { highest: nextId - 1, channels: [...channels].map(([id, state]) => [id, routeOf(state)]) };
    },

    /** A worker's deliverer is exiting: that worker's subscribers go with it (the broadcast is not awaited). */
    detach(slot: number, deliverer: Handle): void {
      forget(slot, deliverer);
    },

    async create(): Promise<number> {
      const id = nextId++;
      channels.set(id, { counts: new Map(), seqs: new Map(), settled: Promise.resolve() });
      await broadcast({ op: "create", id });
      return id;
    },

    /** Deleting a channel twice is not an error; the answer says whether it existed. */
    async delete(id: number): Promise<boolean> {
      if (!channels.delete(id)) return false;
      await broadcast({ op: "delete", id });
      return true;
    },

    /** A worker reports its subscriber count for a channel (after each subscribe or unsubscribe there). */
    async count(id: number, slot: number, subscribers: number, seq: number): Promise<void> {
      const state = channels.get(id);
      if (state === undefined) {
        if (subscribers > 0) throw missing(id);
        return;
      }
      if (seq > (state.seqs.get(slot) ?? 0)) {
        state.seqs.set(slot, seq);
        const had = state.counts.has(slot);
        if (subscribers > 0) state.counts.set(slot, subscribers);
        else state.counts.delete(slot);
        if (had !== subscribers > 0) await reroute(id, state);
      }
      // Another subscriber on this worker may have started the broadcast that matters here.
      await state.settled;
    },

    info(id: number): ChannelInfo {
      const state = channels.get(id);
      if (state === undefined) throw missing(id);
      return infoOf(id, state);
    },

    /** Each worker's deliverer, by slot. */
    deliverers(): Record<number, Handle> {
      return Object.fromEntries(deliverers);
    },
  };
});
