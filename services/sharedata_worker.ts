/**
 * One worker's sharedata copies (lib/sharedata_table), started there by lib/sharedata the
 * first time a service on the worker queries a table. It fetches a table once for all the
 * readers of the worker, and installs each update sharedatad sends: one decode per version.
 *
 * If it exits (killed from the console, say), the copies here stop getting updates: it leaves
 * the table without a worker, so the next query here starts a new one, which fetches every
 * copy the worker holds again and brings the views already handed out up to date.
 */
import { defineService, NoSuchSharedataError, sharedata, type Handle } from "weft";
import { sharedataDrop, sharedataInstall, sharedataTable as table, type SharedataEncoded } from "weft/internal";

export default defineService(async (svc, sharedatad: Handle) => {
  /** Fetches in progress: readers that query at the same time share one. */
  const loading = new Map<string, Promise<void>>();
  const fetchTable = (name: string): Promise<void> => {
    let fetching = loading.get(name);
    if (fetching === undefined) {
      fetching = svc
        .call(sharedatad, "query", name, svc.self)
        .then((answer) => {
          const { version, bytes } = answer as SharedataEncoded;
          sharedataInstall(name, version, bytes);
        })
        .finally(() => loading.delete(name));
      loading.set(name, fetching);
    }
    return fetching;
  };

  // Copies left by a worker that exited: they missed updates, and sharedatad no longer sends here.
  await Promise.all(
    [...table.copies.values()].map(({ name, version }) =>
      fetchTable(name).catch((err: unknown) => {
        if (!(err instanceof NoSuchSharedataError)) throw err;
        sharedataDrop(name, version); // deleted meanwhile
      }),
    ),
  );
  table.sharedatad = sharedatad;
  table.worker = svc.self;
  svc.onExit(async () => {
    if (table.worker === svc.self) {
      table.worker = undefined;
      table.ready = undefined;
    }
    await svc.call(sharedatad, "detach", svc.self).catch(() => undefined);
  });

  svc.setInfo(() => sharedata.stat());

  return {
    load(name: string): Promise<void> | void {
      if (!table.copies.has(name)) return fetchTable(name);
    },
    apply(name: string, version: number, bytes: Uint8Array): void {
      sharedataInstall(name, version, bytes);
    },
    drop(name: string, version: number): void {
      sharedataDrop(name, version);
    },
  };
});
