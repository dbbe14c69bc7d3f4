/**
 * Read-mostly tables, published by one service and read by many (skynet's sharedata).
 *
 * sharedatad keeps each table encoded once. Each worker that reads a table keeps one decoded
 * copy, shared by every service on that worker (module-level state of the worker), and decodes
 * each version once. `query` gives a read-only view of that copy whose reads always see the
 * latest version, at any depth, without querying again; writing to it throws ReadOnlyError.
 * `update` resolves once every worker holding a copy has installed the new version.
 * A table outlives the service that created it, until someone deletes it; views already handed
 * out then keep its last version.
 *
 * @example
 * await sharedata.new(svc, "config", { maxPlayers: 8, maps: ["dust", "ice"] });
 * const config = await sharedata.query<Config>(svc, "config");     // on any worker
 * config.maps[0];                                                  // "dust"
 * await sharedata.update(svc, "config", { maxPlayers: 16, maps: ["lava"] });
 * config.maps[0];                                                  // "lava", same object
 */
import type { Service } from "../runtime/context.js";
import { NoSuchSharedataError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";
import { startOnWorker } from "./perworker.js";
import { encodeTable, table } from "./sharedata_table.js";

/** What readers get: every level read-only. */
export type ReadOnly<T> = T extends Date | Uint8Array ? T : T extends readonly (infer U)[] ? readonly ReadOnly<U>[] : T extends object ? { readonly [K in keyof T]: ReadOnly<T[K]> } : T;

/** This worker's copy of a table. */
export interface SharedataStat {
  name: string;
  version: number;
  /** Versions this worker has decoded (one per version it received). */
  decodes: number;
}

/** Publishes a new table (skynet's sharedata.new). Rejects with NameTakenError if the name exists. Resolves with its version. */
export async function create(svc: Service, name: string, value: object): Promise<number> {
  const bytes = encodeTable(name, value);
  return (await svc.call(await sharedatad(svc), "create", name, bytes)) as number;
}

export { create as new, remove as delete };

/**
 * The read-only live view of a table. Rejects with NoSuchSharedataError if there is no such
 * table. Only the first query on a worker costs messages (and the first after that worker's
 * sharedata_worker exited, which refreshes every copy there); later ones return the same view.
 */
export async function query<T extends object = Record<string, unknown>>(svc: Service, name: string): Promise<ReadOnly<T>> {
  let copy = table.copies.get(name);
  // No worker: its sharedata_worker exited, and the copies here wait for a new one to refresh them.
  if (copy === undefined || table.worker === undefined) {
    await svc.call(await worker(svc), "load", name);
    copy = table.copies.get(name);
    if (copy === undefined) throw new NoSuchSharedataError(`sharedata "${name}" was deleted while ${svc.address} queried it`);
  }
  return copy.view as ReadOnly<T>;
}

/** Replaces a table's value; resolves with the new version once every worker holding a copy has it. */
export async function update(svc: Service, name: string, value: object): Promise<number> {
  const bytes = encodeTable(name, value);
  return (await svc.call(await sharedatad(svc), "update", name, bytes)) as number;
}

/** Deletes a table: later queries reject; views already handed out keep the last version. Resolves false if there was none. */
async function remove(svc: Service, name: string): Promise<boolean> {
  return (await svc.call(await sharedatad(svc), "delete", name)) as boolean;
}

/** The version a view shows now, or undefined for something that is not a sharedata view root. */
export function version(view: object): number | undefined {
  return table.sources.get(view)?.version;
}

/** The copies held by the calling service's worker. */
export function stat(): SharedataStat[] {
  return [...table.copies.values()].map(({ name, version, decodes }) => ({ name, version, decodes }));
}

async function sharedatad(svc: Service): Promise<Handle> {
  // On the main thread the module is shared by successive runtimes: ask every time there.
  if (svc.worker === 0) return svc.uniqueService("sharedatad");
  table.sharedatad ??= await svc.uniqueService("sharedatad");
  return table.sharedatad;
}

/** This worker's sharedata_worker, started the first time a service here queries. */
async function worker(svc: Service): Promise<Handle> {
  const running = () => table.worker !== undefined;
  await startOnWorker(svc, table, "sharedata.query", running, async () => {
    const daemon = await sharedatad(svc);
    if (!running()) await svc.newServiceOn("same", "sharedata_worker", daemon);
  });
  return table.worker!;
}
