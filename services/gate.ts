/**
 * The ready gate (skynet's service/gate.lua) over TCP with netpack framing. Its commands
 * (open, close, forward, accept, kick, write, writev, connections) and what it tells the
 * watchdog are lib/gateservice.ts, shared with services/wsgate.
 */
import { defineService, gateserver, gateService } from "weft";

export default defineService(gateService(gateserver));
