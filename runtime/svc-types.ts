/**
 * The shapes `svc` (runtime/context.ts) takes and gives: placements, restart policies, the
 * responder of a deferred answer, a service's stat, a caller with a timeout.
 */
import type { Handle } from "./handle.js";
import type { Address, CommandArgs, CommandName, CommandResult, Proxy } from "./define.js";

/** Where newServiceOn puts a service: "same" (the caller's worker) or a worker number (1..thread). */
export type Placement = "same" | number;

/**
 * What supervision does when a service ends (Erlang's words): `permanent` starts it again
 * whatever ended it, `transient` only after an abnormal end (killed, its worker lost or stuck),
 * `temporary` (the default) never. See README "Faults and limits".
 */
export const RESTART_POLICIES = ["permanent", "transient", "temporary"] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** How newServiceWith starts a service. */
export interface LaunchOptions {
  restart?: RestartPolicy;
  /** "same" (the caller's worker) or a worker number; default the least-loaded one. */
  worker?: Placement;
  /** One instance per runtime, as uniqueService: the first caller starts it. */
  unique?: boolean;
}

/** Answers the current call later (skynet.response). Returns false if the caller is gone or it was answered. */
export interface Responder {
  (value?: unknown): boolean;
  error(err: unknown): boolean;
}

export interface ServiceStat {
  address: string;
  name: string;
  mailbox: number;
  messages: number;
  /** Milliseconds spent in this service's handlers. */
  cpu: number;
  /** Calls this service is waiting on. */
  calls: number;
  /** Calls to this service it has not answered yet. */
  inflight: number;
  timers: number;
  forks: number;
  waits: number;
}

/** A call made with a timeout: `svc.withTimeout(500).call(...)`. */
export interface TimedCaller {
  call<S = unknown, K extends CommandName<S> = CommandName<S>>(addr: Address<S> | string, cmd: K, ...args: CommandArgs<S, K>): Promise<CommandResult<S, K>>;
  rawCall(addr: Handle | string, proto: string | number, payload: unknown): Promise<unknown>;
  proxy<S>(addr: Address<S> | string): Proxy<S>;
}

