/**
 * One worker's sharedata copies (lib/sharedata_table), started there by lib/sharedata the
 * first time a service on the worker queries a table. It fetches a table once for all the
 * readers of the worker, and installs each update sharedatad sends: one decode per version.
 */
import { defineService, type Handle } from "weft";
import { sharedataDrop, sharedataInstall, sharedataTable as table, type SharedataEncoded } from "weft/internal";

export default defineService((svc, sharedatad: Handle) => {
  table.sharedatad = sharedatad;
  table.worker = svc.self;
  /** Fetches in progress: readers that query at the same time share one. */
  const loading = new Map<string, Promise<void>>();

  const stat = () => [...table.copies.values()].map(({ name, version, decodes }) => ({ name, version, decodes }));
  svc.setInfo(stat);

  return {
    load(name: string): Promise<void> | void {
      if (table.copies.has(name)) return;
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
    },
    apply(name: string, version: number, bytes: Uint8Array): void {
      sharedataInstall(name, version, bytes);
    },
    drop(name: string, version: number): void {
      sharedataDrop(name, version);
    },
    stat,
  };
});
