/**
 * The first service of the example (config `start`). It starts simpledb and shows a call;
 * the services stay up until Ctrl-C.
 */
import { defineService } from "weft";
import type SimpleDb from "./simpledb.js";

export default defineService(async (svc) => {
  svc.log("Server start");
  const db = svc.proxy<typeof SimpleDb>(await svc.uniqueService<typeof SimpleDb>("simpledb"));
  await db.set("hello", "world");
  svc.log(`simpledb: hello = ${String(await db.get("hello"))}`);
  svc.log("Press Ctrl-C to stop");
});
