/**
 * The debug protocol every service answers (skynet's debug.lua): the console sends these to
 * the service itself, so they queue in its mailbox like any message, and `ping` measures
 * exactly what a caller waits.
 */
import { formatHandle } from "./handle.js";
import { PROTO } from "./protocol.js";
import type { ServiceInstance } from "./service.js";

export type DebugRequest =
  | { cmd: "ping" }
  | { cmd: "stat" }
  | { cmd: "task" }
  | { cmd: "info"; args?: unknown[] }
  | { cmd: "logon" }
  | { cmd: "logoff" }
  | { cmd: "exit" };

export interface TaskReport {
  /** Calls this service is waiting on. */
  calls: { session: number; dest: string; cmd: string }[];
  /** Calls to it not answered yet. */
  inflight: { source: string; cmd: string }[];
  timers: number;
  forks: number;
  waits: number;
  /** Services watching its load (svc.watchMailbox). */
  loadWatchers: number;
}

export function installDebug(service: ServiceInstance): void {
  service.protocols.set(PROTO.debug, (request) => answerDebug(service, request as DebugRequest));
}

function answerDebug(service: ServiceInstance, request: DebugRequest): unknown {
  switch (request?.cmd) {
    case "ping":
      return "pong";
    case "stat":
      return service.ctx.stat();
    case "task":
      return {
        calls: service.ctx.pendingCalls(),
        inflight: [...service.inflight].map((e) => ({ source: formatHandle(e.source), cmd: e.cmd })),
        timers: service.timers.size,
        forks: service.forks,
        waits: service.waits.size,
        loadWatchers: service.loadWatchers,
      } satisfies TaskReport;
    case "info":
      return service.info ? service.info(...(request.args ?? [])) : null;
    case "logon":
      service.traced = true;
      return true;
    case "logoff":
      service.traced = false;
      return true;
    case "exit":
      // In turn with the mailbox: what arrived before this was handled; the answer goes first.
      queueMicrotask(() => void service.exit("exit (debug console)"));
      return true;
    default:
      throw new Error(`unknown debug command "${String((request as { cmd?: unknown })?.cmd)}"`);
  }
}
