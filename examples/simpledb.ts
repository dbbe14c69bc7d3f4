/** skynet's examples/simpledb: a key-value table other services share. */
import { defineService } from "weft";

export default defineService(async (svc) => {
  const db = new Map<string, unknown>();
  await svc.register(".simpledb");
  return {
    get(key: string): unknown {
      return db.get(key);
    },
    /** Returns the previous value, as skynet's simpledb does. */
    set(key: string, value: unknown): unknown {
      const last = db.get(key);
      db.set(key, value);
      return last;
    },
  };
});
