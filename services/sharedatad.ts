/**
 * sharedatad (skynet's service/sharedatad): one per runtime, started by lib/sharedata as a
 * unique service. It keeps each table encoded once, with its version, and the workers that
 * hold a copy (their sharedata_worker). An update sends the new bytes once to each of those
 * workers and answers when every one has installed it, so after `update` resolves every
 * reader on every worker reads the new version.
 */
import { defineService, NameTakenError, NoSuchSharedataError, type Handle } from "weft";
import { isGone, type SharedataEncoded } from "weft/internal";

interface Table {
  version: number;
  bytes: Uint8Array;
  /** The sharedata_worker of each worker that holds a copy. */
  readonly readers: Set<Handle>;
}

export interface SharedataInfo {
  name: string;
  version: number;
  bytes: number;
  /** Workers holding a decoded copy. */
  workers: number;
}

export default defineService((svc) => {
  const tables = new Map<string, Table>();
  /** The last version of each deleted name: a name created again counts on from there. */
  const retired = new Map<string, number>();

  const find = (name: string): Table => {
    const table = tables.get(name);
    if (table === undefined) throw new NoSuchSharedataError(`there is no sharedata "${name}"${retired.has(name) ? " (it was deleted)" : ""}`);
    return table;
  };

  /** Tells each worker holding a copy; a worker that is gone stops being one. */
  const tell = (table: Table, cmd: "apply" | "drop", ...args: unknown[]) =>
    Promise.all(
      [...table.readers].map((reader) =>
        svc.call(reader, cmd, ...args).catch((err: unknown) => {
          if (isGone(err)) table.readers.delete(reader);
          else svc.log(`sharedata ${cmd} on ${reader} failed: ${(err as Error).message}`);
        }),
      ),
    );

  return {
    create(name: string, bytes: Uint8Array): number {
      if (tables.has(name)) throw new NameTakenError(`sharedata "${name}" already exists`);
      const version = (retired.get(name) ?? 0) + 1;
      retired.delete(name);
      tables.set(name, { version, bytes, readers: new Set() });
      return version;
    },

    async update(name: string, bytes: Uint8Array): Promise<number> {
      const table = find(name);
      const version = ++table.version;
      table.bytes = bytes;
      await tell(table, "apply", name, version, bytes);
      return version;
    },

    /** A worker's first reader wants the table: from now on that worker gets every update. */
    query(name: string, reader: Handle): SharedataEncoded {
      const table = find(name);
      table.readers.add(reader);
      return { version: table.version, bytes: table.bytes };
    },

    /** A worker's sharedata_worker is exiting: it holds nothing from now on. */
    detach(reader: Handle): void {
      for (const table of tables.values()) table.readers.delete(reader);
    },

    async delete(name: string): Promise<boolean> {
      const table = tables.get(name);
      if (table === undefined) return false;
      tables.delete(name);
      retired.set(name, table.version);
      await tell(table, "drop", name, table.version);
      return true;
    },

    list(): SharedataInfo[] {
      return [...tables].map(([name, t]) => ({ name, version: t.version, bytes: t.bytes.length, workers: t.readers.size }));
    },
  };
});
