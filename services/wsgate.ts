/**
 * The ready gate over websocket: one binary message is one packet. The same commands as
 * services/gate (lib/gateservice.ts), so a watchdog and its agents work behind either.
 */
import { defineService, gateService, wsgateserver } from "weft";

export default defineService(gateService(wsgateserver));
