/**
 * The environment table (skynet's getenv/setenv): the config's keys plus what services set.
 * It only stores values. The runtime's own settings (callTimeout, thread, ...) are typed
 * options read once at start; changing their value here would be a control channel nobody
 * checks, so setenv refuses them, and it refuses the keys that would reach a prototype.
 */
import { ConfigError } from "./errors.js";

/** Config keys the runtime itself reads at start: setenv cannot change them. */
export const RUNTIME_KEYS: ReadonlySet<string> = new Set([
  "thread",
  "start",
  "startRestart",
  "servicePath",
  "logger",
  "callTimeout",
  "endlessLoop",
  "stuckWorker",
  "restartIntensity",
  "restartPeriod",
  "spin",
  "offloadThreads",
  "workerHeapMb",
  "root",
]);

const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export type Env = Record<string, unknown>;

/** A table with no prototype, so no key can reach Object.prototype or shadow its methods. */
export function makeEnv(initial: Record<string, unknown>): Env {
  const env: Env = Object.create(null);
  for (const key of Object.keys(initial)) if (!PROTOTYPE_KEYS.has(key)) env[key] = initial[key];
  return env;
}

/** Throws ConfigError for a key setenv must not store. */
export function checkSetenv(key: unknown): asserts key is string {
  if (typeof key !== "string" || key === "") throw new ConfigError(`setenv needs a key (a non-empty string), not ${String(key)}`);
  if (PROTOTYPE_KEYS.has(key)) throw new ConfigError(`setenv refuses "${key}": it would reach the table's prototype`);
  if (RUNTIME_KEYS.has(key)) throw new ConfigError(`setenv refuses "${key}": it is a runtime setting, read once at start (set it in the config or on the command line)`);
}
