/**
 * The supervisor's policy as pure functions (Erlang/OTP's words): which ends restart a service,
 * and how many restarts the node allows in a window before it gives up.
 *
 * - `permanent`: always started again, whatever ended it (except the node's shutdown).
 * - `transient`: started again only after an abnormal end: killed, its worker lost or stuck,
 *   a failed restart; not after its own `svc.exit()` (or the console's `exit`).
 * - `temporary` (the default): never started again.
 */
import { ConfigError } from "../runtime/errors.js";
import { RESTART_POLICIES, type RestartPolicy } from "../runtime/svc-types.js";

export function restartPolicy(value: unknown): RestartPolicy {
  if (value === undefined) return "temporary";
  if (!RESTART_POLICIES.includes(value as RestartPolicy)) throw new ConfigError(`restart must be "permanent", "transient" or "temporary", not ${JSON.stringify(value)}`);
  return value as RestartPolicy;
}

/** An end the service asked for itself: `svc.exit()`, or the console's `exit`. */
export function isNormalEnd(reason: string): boolean {
  return reason === "exit" || reason.startsWith("exit (");
}

export function shouldRestart(policy: RestartPolicy, reason: string): boolean {
  if (policy === "temporary" || reason === "shutdown") return false;
  return policy === "permanent" || !isNormalEnd(reason);
}

/**
 * At most `intensity` restarts within any `periodMs`: `allow(now)` counts one and says whether
 * it is still within the limit (OTP's MaxR in MaxT). An intensity of 0 allows none.
 */
export class IntensityWindow {
  private readonly times: number[] = [];

  constructor(
    private readonly intensity: number,
    private readonly periodMs: number,
  ) {}

  allow(now: number): boolean {
    const times = this.times;
    while (times.length > 0 && now - times[0] >= this.periodMs) times.shift();
    times.push(now);
    return times.length <= this.intensity;
  }
}
