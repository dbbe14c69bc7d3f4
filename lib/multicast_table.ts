/**
 * One worker's view of the multicast channels, and the shapes multicastd and the per-worker
 * deliverer (services/multicast_worker) exchange.
 *
 * This is module-level state: every service on a worker thread shares it, which is the point.
 * The worker's deliverer is the only writer of channels and routes (it applies what multicastd
 * broadcasts); the services on the worker add and remove their own subscriptions. Publishers
 * read the routes here to send straight to the deliverers, without a hop through multicastd.
 */
import { packr } from "../runtime/codec.js";
import { EncodeError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";

export interface ChannelEntry {
  /** The deliverer of each worker that has subscribers: one message per worker per publish. */
  route: Handle[];
  /** Subscribers living on this worker. */
  readonly local: Set<Handle>;
  /** Numbers this worker's subscriber-count reports, so multicastd can ignore a stale one. */
  seq: number;
}

export interface WorkerTable {
  readonly channels: Map<number, ChannelEntry>;
  /** The highest channel id this worker has heard of: an unknown id below it was deleted. */
  highest: number;
  multicastd?: Handle;
  /** This worker's deliverer, once it has attached to multicastd. */
  deliverer?: Handle;
  /**
   * Set by the deliverer: tells multicastd this worker's subscriber count for a channel (read
   * when the report leaves); resolves once every publisher will see it.
   */
  report?: (id: number) => Promise<unknown>;
  /** Set while (or once) the deliverer is being started on this worker. */
  ready?: Promise<void>;
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
      if (!table.channels.has(update.id)) table.channels.set(update.id, { route: [], local: new Set(), seq: 0 });
      table.highest = Math.max(table.highest, update.id);
      break;
    case "route": {
      const entry = table.channels.get(update.id);
      if (entry) entry.route = update.route;
      break;
    }
    case "delete":
      // Local subscribers are forgotten with the entry; their services drop what is in flight.
      table.channels.delete(update.id);
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
    else table.channels.set(id, { route, local: new Set(), seq: 0 });
  }
  for (const id of table.channels.keys()) if (!live.has(id)) table.channels.delete(id);
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

/** Each subscriber decodes its own copy: no two services ever share an object. */
export function decodeMessage(message: Uint8Array): unknown[] {
  return packr.unpack(message, AFTER_ID) as unknown[];
}
