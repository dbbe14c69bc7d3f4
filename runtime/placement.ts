/**
 * Where a new service goes, decided by whoever starts it, on its own thread: no message to the
 * main thread. Every thread sees one Int32 per slot in shared memory (the kernel makes it and
 * hands it to each host, like the handle counters): the services living on that slot plus the
 * launches on their way there.
 *
 * The count is kept by two sides, so it never waits for a reply to be right:
 * - the thread that places a launch adds 1 for it before it sends the request (`reserve`), so a
 *   burst of launches placed in one turn (a watchdog starting an agent per new connection)
 *   spreads over the workers instead of all going to the one that looked emptiest;
 * - the host that runs the launch takes that 1 back if the service does not start, or when it
 *   exits (runtime/system.ts);
 * - the kernel marks a lost worker's slot unavailable (its services are gone, and until every
 *   thread has switched to the replacement's link a launch sent there would be lost with the
 *   old one) and takes the mark off when the replacement is ready.
 *
 * It is a load figure for placement, not a list: the launcher keeps the list (it is told of
 * each launch after the fact).
 */
import { ConfigError } from "./errors.js";
import { MAX_SLOTS } from "./handle.js";

/** Added to a lost worker's count until its replacement is ready: no least-loaded choice picks it. */
const UNAVAILABLE = 1 << 28;

/** The shared memory behind the counts, one Int32 per slot. */
export function createLoads(): SharedArrayBuffer {
  return new SharedArrayBuffer(MAX_SLOTS * 4);
}

/**
 * The worker a new service goes to: `worker` if given (checked), else the least-loaded one
 * (the lowest number among equals). Counts the launch there at once.
 */
export function reserve(loads: Int32Array, threads: number, worker?: number): number {
  const slot = worker === undefined ? leastLoaded(loads, threads) : checked(worker, threads);
  Atomics.add(loads, slot, 1);
  return slot;
}

/** A launch that did not give a live service, or a service that exited: one less on `slot`. */
export function release(loads: Int32Array, slot: number): void {
  Atomics.sub(loads, slot, 1);
}

/** The worker at `slot` was lost: its services are gone; nothing is placed there until ready(). */
export function lost(loads: Int32Array, slot: number): void {
  Atomics.store(loads, slot, UNAVAILABLE);
}

/** The replacement at `slot` is ready: what was launched there meanwhile (by worker number) counts. */
export function ready(loads: Int32Array, slot: number): void {
  if (Atomics.load(loads, slot) >= UNAVAILABLE >> 1) Atomics.sub(loads, slot, UNAVAILABLE);
}

/** The services on `slot` (and launches on their way there) as every thread sees them. */
export function loadOf(loads: Int32Array, slot: number): number {
  return Atomics.load(loads, slot);
}

function leastLoaded(loads: Int32Array, threads: number): number {
  let best = 1;
  let least = Atomics.load(loads, 1);
  for (let w = 2; w <= threads; w++) {
    const load = Atomics.load(loads, w);
    if (load < least) {
      best = w;
      least = load;
    }
  }
  return best;
}

function checked(worker: number, threads: number): number {
  if (!Number.isInteger(worker) || worker < 1 || worker > threads) throw new ConfigError(`there is no worker ${worker}: workers are 1..${threads}`);
  return worker;
}
