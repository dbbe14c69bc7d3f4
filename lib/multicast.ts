/**
 * Publish/subscribe channels between services (skynet's lualib/skynet/multicast).
 *
 * A message is encoded once by the publisher and sent once to each worker that has
 * subscribers, to that worker's deliverer (services/multicast_worker), which hands the same
 * bytes to each subscriber there; every subscriber decodes its own copy. multicastd hands out
 * ids and tracks which workers have subscribers, but no message passes through it.
 *
 * Order: the messages of one publisher reach each subscriber in the order they were
 * published (publisher → deliverer → subscriber are FIFO hops), across channels too.
 * A subscription is in place everywhere once `subscribe` resolves; after `unsubscribe`
 * resolves (or its service exits) the handler is never called again. A channel outlives the
 * service that created it, until someone deletes it.
 *
 * @example
 * const ch = await multicast.create<[string, number]>(svc);
 * await ch.subscribe((name, score) => svc.log(`${name} scored ${score} (from ${svc.source})`));
 * await ch.publish("ada", 3);
 * svc.send(other, "join", ch.id);        // elsewhere: const ch = await multicast.channel(svc, id)
 */
import type { Service } from "../runtime/context.js";
import { NoSuchChannelError } from "../runtime/errors.js";
import { PROTO } from "../runtime/protocol.js";
import { startOnWorker } from "./perworker.js";
import { channelOf, decodeMessage, encodeMessage, subscriptions, table, type ChannelInfo, type Handlers } from "./multicast_table.js";

export type { ChannelInfo };

/**
 * Each service's first subscribes still being reported, by channel id: a second subscribe to
 * the same channel meanwhile only swaps the handler, so it waits for the same report.
 */
const joining = new WeakMap<Service, Map<number, Promise<void>>>();

/**
 * Publishes made while this worker has no deliverer (the last one was killed), in order: they
 * go once a new one has attached and brought the routes. Later publishes queue behind them,
 * so a publisher's order holds.
 */
let held: Promise<void> | undefined;

/** Makes a new channel; any service can then bind it by its `id`. */
export async function create<A extends unknown[] = unknown[]>(svc: Service): Promise<Channel<A>> {
  await ready(svc);
  const id = (await svc.call(table.multicastd!, "create")) as number;
  return new Channel<A>(svc, id);
}

/** Binds a channel someone else created, by id. Rejects with NoSuchChannelError if it is not live. */
export async function channel<A extends unknown[] = unknown[]>(svc: Service, id: number): Promise<Channel<A>> {
  if (!Number.isInteger(id) || id <= 0) throw new NoSuchChannelError(`${String(id)} is not a multicast channel id (ids are positive integers)`);
  await ready(svc);
  if (!table.channels.has(id)) throw missing(id, svc);
  return new Channel<A>(svc, id);
}

export class Channel<A extends unknown[] = unknown[]> {
  /** @internal use `create` or `channel` */
  constructor(
    private readonly svc: Service,
    /** A plain number: send it to other services so they can bind the same channel. */
    readonly id: number,
  ) {}

  /** Whether this service is subscribed to the channel (false once it is deleted). */
  get subscribed(): boolean {
    // A deleted channel leaves every handler map of the worker (lib/multicast_table).
    return subscriptions.get(this.svc)?.has(this.id) ?? false;
  }

  /**
   * Sends `args` to every subscriber. Resolves once the message is on its way; rejects with
   * NoSuchChannelError if the channel was deleted, EncodeError if an argument cannot be sent,
   * or NotRunningError once the runtime is stopping (no deliverer is started then).
   */
  publish(...args: A): Promise<void> {
    if (table.deliverer === undefined || held !== undefined) return this.publishLater(args);
    return this.send(args);
  }

  private publishLater(args: A): Promise<void> {
    const sent = (held ?? Promise.resolve()).then(() => ready(this.svc)).then(() => this.send(args));
    const settled = sent.then(
      () => undefined,
      () => undefined,
    );
    held = settled;
    void settled.then(() => {
      if (held === settled) held = undefined;
    });
    return sent;
  }

  private send(args: A): Promise<void> {
    const entry = table.channels.get(this.id);
    if (entry === undefined) return Promise.reject(missing(this.id, this.svc));
    let message: Buffer;
    try {
      message = encodeMessage(this.id, args);
    } catch (err) {
      return Promise.reject(err);
    }
    // Handed over, not copied: nobody else holds these bytes, and nobody changes them.
    for (const deliverer of entry.route) this.svc.redirect(deliverer, this.svc.self, PROTO.multicast, message);
    return Promise.resolve();
  }

  /**
   * Calls `handler(...args)` for each message, in this service's mailbox order (`svc.source`
   * is the publisher). Subscribing again replaces the handler. Resolves once publishers on
   * every worker will reach this service.
   */
  async subscribe(handler: (...args: A) => unknown): Promise<void> {
    if (typeof handler !== "function") throw new TypeError(`subscribe on multicast channel ${this.id} needs a handler function`);
    if (table.deliverer === undefined) await ready(this.svc);
    const entry = table.channels.get(this.id);
    if (entry === undefined) throw missing(this.id, this.svc);
    const handlers = subscriberOf(this.svc);
    const pending = joining.get(this.svc)!;
    const already = handlers.has(this.id);
    handlers.set(this.id, handler);
    if (already) {
      // The first subscribe may still be on its way to multicastd: in place once it is.
      await pending.get(this.id);
      return;
    }
    entry.local.set(this.svc.self, handlers);
    const joined = (async () => {
      await report(this.id);
      if (table.channels.get(this.id) !== entry) throw missing(this.id, this.svc);
    })();
    pending.set(this.id, joined);
    try {
      await joined;
    } catch (err) {
      // Deleted meanwhile: undo, unless an unsubscribe (and a new subscribe) took over.
      if (pending.get(this.id) === joined) {
        handlers.delete(this.id);
        if (entry.local.delete(this.svc.self)) await report(this.id).catch(() => undefined);
      }
      throw err;
    } finally {
      if (pending.get(this.id) === joined) pending.delete(this.id);
    }
  }

  /** Stops delivery at once; resolves when multicastd has the new subscriber count. */
  async unsubscribe(): Promise<void> {
    const handlers = subscriptions.get(this.svc);
    if (!handlers?.delete(this.id)) return;
    await leave(this.svc, this.id);
  }

  /** Deletes the channel for everyone: later publishes reject, subscribers get nothing more. */
  async delete(): Promise<void> {
    subscriptions.get(this.svc)?.delete(this.id);
    await this.svc.call(table.multicastd!, "delete", this.id);
  }

  /** The channel's subscriber count, per worker and in all. */
  info(): Promise<ChannelInfo> {
    return this.svc.call(table.multicastd!, "info", this.id) as Promise<ChannelInfo>;
  }
}

/** Starts this worker's deliverer (and multicastd) the first time a service here uses multicast. */
function ready(svc: Service): Promise<void> {
  const running = () => table.deliverer !== undefined;
  return startOnWorker(svc, table, "multicast", running, async () => {
    const multicastd = await svc.uniqueService("multicastd");
    if (!running()) await svc.newServiceOn("same", "multicast_worker", multicastd);
  });
}

function missing(id: number, svc: Service): NoSuchChannelError {
  const what = id <= table.highest ? "was deleted" : "does not exist";
  return new NoSuchChannelError(`multicast channel ${id} ${what} (used by ${svc.address})`);
}

/** Has this worker's deliverer tell multicastd the new subscriber count; resolves once every publisher will see it. */
function report(id: number): Promise<unknown> {
  // No deliverer (it exited): multicastd has dropped this worker's subscribers already.
  return table.report?.(id) ?? Promise.resolve();
}

async function leave(svc: Service, id: number): Promise<void> {
  const entry = table.channels.get(id);
  if (entry === undefined || !entry.local.delete(svc.self)) return;
  // The channel may be deleted meanwhile: there is nothing left to leave then.
  await report(id).catch((err: unknown) => {
    if (!(err instanceof NoSuchChannelError)) throw err;
  });
}

/** The service's handler table; the first subscription installs its dispatch and exit hook. */
function subscriberOf(svc: Service): Handlers {
  let handlers = subscriptions.get(svc);
  if (handlers !== undefined) return handlers;
  const table: Handlers = new Map();
  subscriptions.set(svc, table);
  joining.set(svc, new Map());
  svc.dispatch(PROTO.multicast, (message: Uint8Array) => {
    const handler = table.get(channelOf(message));
    // Unsubscribed after the deliverer sent it: dropped, as skynet does.
    if (handler === undefined) return;
    return handler(...decodeMessage(message));
  });
  svc.onExit(async () => {
    const ids = [...table.keys()];
    table.clear();
    // Failures here (multicastd stopping too) leave nothing behind worth a log line.
    await Promise.all(ids.map((id) => leave(svc, id).catch(() => undefined)));
  });
  return table;
}
