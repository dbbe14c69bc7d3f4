/**
 * One worker's view of the multicast channels, and the shapes multicastd and the per-worker
 * deliverer (services/multicast_worker) exchange.
 *
 * This is module-level state: every service on a worker thread shares it, which is the point.
 * The worker's deliverer is the only writer of channels and routes (it applies what multicastd
 * broadcasts); the services on the worker add and remove their own subscriptions. Publishers
 * read the routes here to send straight to the deliverers, without a hop through multicastd.
 */
import { Packr } from "msgpackr";
import { packr } from "../runtime/codec.js";
import type { PerWorker } from "./perworker.js";
import type { Service } from "../runtime/context.js";
import { EncodeError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";

/** A subscribing service's handlers, by channel id. */
export type Handlers = Map<number, (...args: any[]) => unknown>;

/**
 * Each subscribing service's handlers (lib/multicast installs and uses them). Kept with the
 * table so that a channel leaving the table (deleted, or its deliverer gone) leaves every
 * handler map of the worker too, and `ch.subscribed` turns false with nothing left behind.
 */
export const subscriptions = new WeakMap<Service, Handlers>();

export interface ChannelEntry {
  /** The deliverer of each worker that has subscribers: one message per worker per publish. */
  route: Handle[];
  /** Subscribers living on this worker, each with its handler map (the one in `subscriptions`). */
  readonly local: Map<Handle, Handlers>;
  /** Numbers this worker's subscriber-count reports, so multicastd can ignore a stale one. */
  seq: number;
}

export interface WorkerTable extends PerWorker {
  readonly channels: Map<number, ChannelEntry>;
  /** The highest channel id this worker has heard of: an unknown id below it was deleted. */
  highest: number;
  multicastd?: Handle;
  /** This worker's deliverer, once it has attached to multicastd; undefined again once it exits. */
  deliverer?: Handle;
  /**
   * Set by the deliverer: tells multicastd this worker's subscriber count for a channel (read
   * when the report leaves); resolves once every publisher will see it.
   */
  report?: (id: number) => Promise<unknown>;
}

export const table: WorkerTable = { channels: new Map(), highest: 0 };

/** What multicastd says of a channel. */
export interface ChannelInfo {
  id: number;
  subscribers: number;
  /** Subscribers per worker slot. */
  workers: Record<number, number>;
}

/** What multicastd tells every deliverer. Each carries the whole new state, so the last one wins. */
export type ChannelUpdate =
  | { op: "create"; id: number }
  | { op: "route"; id: number; route: Handle[] }
  | { op: "delete"; id: number };

/** What a deliverer gets when it attaches: every live channel and where it must go. */
export interface Snapshot {
  highest: number;
  channels: [id: number, route: Handle[]][];
}

export function applyUpdate(update: ChannelUpdate): void {
  switch (update.op) {
    case "create":
      if (!table.channels.has(update.id)) table.channels.set(update.id, { route: [], local: new Map(), seq: 0 });
      table.highest = Math.max(table.highest, update.id);
      break;
    case "route": {
      const entry = table.channels.get(update.id);
      if (entry) entry.route = update.route;
      break;
    }
    case "delete":
      // Their services drop what is still in flight, having no handler for it.
      forget(update.id);
      table.highest = Math.max(table.highest, update.id);
      break;
  }
}

export function applySnapshot(snapshot: Snapshot): void {
  table.highest = Math.max(table.highest, snapshot.highest);
  const live = new Set<number>();
  for (const [id, route] of snapshot.channels) {
    live.add(id);
    const entry = table.channels.get(id);
    if (entry) entry.route = route;
    else table.channels.set(id, { route, local: new Map(), seq: 0 });
  }
  for (const id of table.channels.keys()) if (!live.has(id)) forget(id);
}

/**
 * The worker's deliverer has exited (killed, or the runtime is stopping): multicastd drops this
 * worker's subscribers, so they are unsubscribed here too, and the routes can no longer be kept
 * in step. The next use of multicast on this worker starts a new deliverer, which attaches
 * afresh and gets every live channel in its snapshot.
 */
export function detach(): void {
  for (const id of [...table.channels.keys()]) forget(id);
  table.deliverer = undefined;
  table.report = undefined;
  table.ready = undefined;
}

/** Drops a channel from the table and from the handler maps of its subscribers on this worker. */
function forget(id: number): void {
  const entry = table.channels.get(id);
  if (entry === undefined) return;
  table.channels.delete(id);
  for (const handlers of entry.local.values()) handlers.delete(id);
}

/** The subscribers of channel `id` that live on the calling worker (diagnostics: nothing leaks after exits). */
export function localSubscribers(id: number): Handle[] {
  return [...(table.channels.get(id)?.local.keys() ?? [])];
}

/** The channels `svc` has a handler for (diagnostics: nothing leaks after deletes). */
export function subscribedChannels(svc: Service): number[] {
  return [...(subscriptions.get(svc)?.keys() ?? [])];
}

/**
 * A published message on the wire: the channel id (4 bytes, little-endian), then the arguments
 * as one msgpack array. Encoded once by the publisher; the deliverer reads only the id.
 */
export function encodeMessage(id: number, args: unknown[]): Buffer {
  let body: Uint8Array;
  try {
    body = packr.pack(args);
  } catch (err) {
    throw new EncodeError(`cannot encode a multicast message: ${(err as Error).message}`, { cause: err });
  }
  const message = Buffer.allocUnsafe(4 + body.length);
  message.writeUInt32LE(id, 0);
  message.set(body, 4);
  return message;
}

export function channelOf(message: Uint8Array): number {
  return (message[0] | (message[1] << 8) | (message[2] << 16) | (message[3] << 24)) >>> 0;
}

const AFTER_ID = { start: 4 };

/**
 * The subscribers of a worker are handed the same message bytes, so bytes inside it must come
 * out as copies: msgpackr would otherwise give each subscriber a view of the shared message.
 */
const copying = new Packr({ useRecords: false, moreTypes: true, copyBuffers: true });

/** Each subscriber decodes its own copy: no two services ever share an object, or bytes. */
export function decodeMessage(message: Uint8Array): unknown[] {
  return copying.unpack(message, AFTER_ID) as unknown[];
}
