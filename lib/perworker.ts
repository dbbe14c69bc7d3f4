/**
 * A library's helper service on each worker (multicast's deliverer, sharedata's copy keeper):
 * started by the first service there that needs it, once, however many ask at the same time.
 */
import type { Service } from "../runtime/context.js";
import { ConfigError } from "../runtime/errors.js";

export interface PerWorker {
  /** Set while (or once) the helper is being started on this worker. */
  ready?: Promise<void>;
}

/**
 * Resolves once this worker's helper runs: `running()` says whether it does, `start()` starts
 * it (and is run by one caller only). A failed start is tried again by the next caller.
 */
export async function startOnWorker(svc: Service, state: PerWorker, library: string, running: () => boolean, start: () => Promise<unknown>): Promise<void> {
  if (running()) return;
  if (svc.worker === 0) throw new ConfigError(`${library} is for services on worker threads; ${svc.address} is on the main thread`);
  state.ready ??= start().then(() => undefined);
  try {
    await state.ready;
  } catch (err) {
    state.ready = undefined;
    throw err;
  }
}
