/**
 * The runtime's configuration: a JSON file (or a JS module exporting an object) plus
 * `key=value` overrides from the command line. Known keys are checked here, at start-up, so a
 * typo fails loudly; every other key is the user's, read with svc.getenv.
 */
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { defaults } from "./defaults.js";
import { ConfigError } from "./errors.js";
import { MAX_SLOTS } from "./handle.js";
import { RESTART_POLICIES, type RestartPolicy } from "./svc-types.js";

export interface RuntimeConfig {
  /** Worker threads. Default: the number of cores. */
  thread?: number;
  /** The first service, launched after the logger and the launcher. Default "main"; null for none. */
  start?: string | null;
  /** The restart policy of `start` (see svc.newServiceWith). Default "transient": restarted if lost, not after its own exit. */
  startRestart?: RestartPolicy;
  /** Folders searched for service modules by name, relative to `root`. */
  servicePath?: string | string[];
  /** Unset: log lines go to stdout. Else a file, relative to `root`. */
  logger?: string | null;
  /** Milliseconds before a call fails with CallTimeoutError; 0 (default) waits forever, as skynet does. */
  callTimeout?: number;
  /** Milliseconds a handler may run before it is reported as a possible endless loop. */
  endlessLoop?: number;
  /** Milliseconds in one message after which a worker is terminated and replaced; default 3 × endlessLoop, 0: never. */
  stuckWorker?: number;
  /** Restarts (supervision) allowed within restartPeriod before the node stops with exit code 1. Default 5. */
  restartIntensity?: number;
  /** The window of restartIntensity, in ms. Default 10000. */
  restartPeriod?: number;
  /** Milliseconds a thread keeps polling for messages after its last traffic before it sleeps. */
  spin?: number;
  /** Threads of the second pool that runs svc.offload jobs; default: piscina's (from the core count). */
  offloadThreads?: number;
  /** Heap limit of each worker in MB (piscina resourceLimits.maxOldGenerationSizeMb); unset: Node's default. */
  workerHeapMb?: number;
  /** Where relative paths are resolved: the config file's folder (the command line sets it). Default: cwd. */
  root?: string;
  /** Any other key is the user's, read with svc.getenv. */
  [key: string]: unknown;
}

/** The config with defaults applied and paths made absolute. */
export interface ResolvedConfig extends RuntimeConfig {
  thread: number;
  start: string | null;
  startRestart: RestartPolicy;
  servicePath: string[];
  logger: string | null;
  callTimeout: number;
  endlessLoop: number;
  stuckWorker: number;
  restartIntensity: number;
  restartPeriod: number;
  spin: number;
  root: string;
}

/** Reads a config file (JSON, or a JS module whose default export is the config). */
export async function loadConfigFile(file: string, overrides: string[] = []): Promise<ResolvedConfig> {
  const path = resolve(file);
  let config: unknown;
  try {
    if (/\.[cm]?js$/.test(path)) config = ((await import(pathToFileURL(path).href)) as { default?: unknown }).default;
    else config = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new ConfigError(`config ${file} must be an object`);
  return resolveConfig({ root: dirname(path), ...(config as RuntimeConfig), ...parseOverrides(overrides) });
}

/** `key=value` pairs: a value that parses as JSON is taken as such, else as a string. */
export function parseOverrides(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new ConfigError(`"${pair}" is not key=value`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

export function resolveConfig(config: RuntimeConfig): ResolvedConfig {
  const root = resolve(config.root ?? process.cwd());
  const thread = config.thread ?? availableParallelism();
  if (!Number.isInteger(thread) || thread < 1 || thread > MAX_SLOTS - 1) throw new ConfigError(`thread must be an integer from 1 to ${MAX_SLOTS - 1}, not ${String(config.thread)}`);
  const start = config.start === undefined ? "main" : config.start;
  if (start !== null && (typeof start !== "string" || start === "")) throw new ConfigError(`start must be a service name or null`);
  const startRestart = config.startRestart ?? "transient";
  if (!RESTART_POLICIES.includes(startRestart)) throw new ConfigError(`startRestart must be "permanent", "transient" or "temporary", not ${JSON.stringify(config.startRestart)}`);
  const paths = config.servicePath === undefined ? ["."] : Array.isArray(config.servicePath) ? config.servicePath : [config.servicePath];
  if (!paths.every((p) => typeof p === "string")) throw new ConfigError(`servicePath must be a folder or a list of folders`);
  const logger = config.logger ?? null;
  if (logger !== null && typeof logger !== "string") throw new ConfigError(`logger must be a file name, or unset for stdout`);
  const callTimeout = config.callTimeout ?? defaults.callTimeoutMs;
  if (typeof callTimeout !== "number" || callTimeout < 0) throw new ConfigError(`callTimeout must be a number of ms >= 0`);
  const endlessLoop = config.endlessLoop ?? defaults.endlessLoopMs;
  if (typeof endlessLoop !== "number" || endlessLoop <= 0) throw new ConfigError(`endlessLoop must be a number of ms > 0`);
  const stuckWorker = config.stuckWorker ?? endlessLoop * defaults.stuckWorkerFactor;
  if (typeof stuckWorker !== "number" || stuckWorker < 0) throw new ConfigError(`stuckWorker must be a number of ms >= 0 (0: never terminate a stuck worker)`);
  if (stuckWorker > 0 && stuckWorker <= endlessLoop) throw new ConfigError(`stuckWorker (${stuckWorker} ms) must be longer than endlessLoop (${endlessLoop} ms), or 0`);
  const restartIntensity = config.restartIntensity ?? defaults.restartIntensity;
  if (!Number.isInteger(restartIntensity) || restartIntensity < 0) throw new ConfigError(`restartIntensity must be an integer >= 0`);
  const restartPeriod = config.restartPeriod ?? defaults.restartPeriodMs;
  if (typeof restartPeriod !== "number" || restartPeriod <= 0) throw new ConfigError(`restartPeriod must be a number of ms > 0`);
  const spin = config.spin ?? defaults.spinMs;
  if (typeof spin !== "number" || spin < 0 || spin > 1000) throw new ConfigError(`spin must be a number of ms from 0 to 1000`);
  const offloadThreads = config.offloadThreads;
  if (offloadThreads !== undefined && (!Number.isInteger(offloadThreads) || offloadThreads < 1)) throw new ConfigError(`offloadThreads must be a positive integer`);
  const heap = config.workerHeapMb;
  if (heap !== undefined && (typeof heap !== "number" || heap < 16)) throw new ConfigError(`workerHeapMb must be a number >= 16`);
  return {
    ...config,
    root,
    thread,
    start,
    startRestart,
    servicePath: paths.map((p) => resolve(root, p)),
    logger: logger === null ? null : resolve(root, logger),
    callTimeout,
    endlessLoop,
    stuckWorker,
    restartIntensity,
    restartPeriod,
    spin,
  };
}
