/**
 * One worker's copies of the sharedata tables it reads. Module-level state: every service on
 * the worker reads the same decoded copy, which is the point of sharedata. The worker's
 * sharedata_worker service is the only writer; it decodes each version once.
 */
import { packr } from "../runtime/codec.js";
import { EncodeError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";
import { createView, isContainer, type Source } from "./sharedata_view.js";
import type { PerWorker } from "./perworker.js";

export interface Copy extends Source {
  /** The read-only live view every reader on this worker gets. */
  readonly view: object;
  /** How many versions this worker has decoded. */
  decodes: number;
}

export interface SharedataTable extends PerWorker {
  readonly copies: Map<string, Copy>;
  /** The version each deleted name had: a late update of it must not bring it back. */
  readonly dropped: Map<string, number>;
  /** View → its copy, for sharedata.version(view). */
  readonly sources: WeakMap<object, Copy>;
  sharedatad?: Handle;
  /** This worker's sharedata_worker. */
  worker?: Handle;
}

export const table: SharedataTable = { copies: new Map(), dropped: new Map(), sources: new WeakMap() };

/** What sharedatad answers a worker's query: the table's current version, encoded once. */
export interface Encoded {
  version: number;
  bytes: Uint8Array;
}

export function encodeTable(name: string, value: unknown): Buffer {
  // Only a plain object at the root: the view's kind (object or array) must not change with an update.
  if (!isContainer(value) || Array.isArray(value)) {
    throw new TypeError(`sharedata "${name}" must be a plain object, not ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`);
  }
  try {
    return packr.pack(value);
  } catch (err) {
    throw new EncodeError(`cannot encode sharedata "${name}": ${(err as Error).message}`, { cause: err });
  }
}

/** Installs a version on this worker unless it already has it or a newer one: one decode per version. */
export function install(name: string, version: number, bytes: Uint8Array): void {
  if (version <= (table.dropped.get(name) ?? 0)) return;
  const copy = table.copies.get(name);
  if (copy !== undefined && copy.version >= version) return;
  const data = packr.unpack(bytes);
  if (copy !== undefined) {
    copy.data = data;
    copy.version = version;
    copy.decodes++;
    return;
  }
  const source: Source = { name, data, version };
  const fresh: Copy = Object.assign(source, { view: createView(source), decodes: 1 });
  table.copies.set(name, fresh);
  table.sources.set(fresh.view, fresh);
}

/** The table was deleted: new queries on this worker fail; views already handed out keep the last version. */
export function drop(name: string, version: number): void {
  table.dropped.set(name, Math.max(version, table.dropped.get(name) ?? 0));
  table.copies.delete(name);
}
