/** For bench/recovery: a service that loops for ever on request, or answers who it is. */
import { defineService } from "weft";

export default defineService((svc) => ({
  loop(): void {
    for (;;);
  },
  whoami: () => ({ address: svc.address, restarts: svc.restarts }),
}));
