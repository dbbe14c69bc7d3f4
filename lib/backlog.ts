/**
 * The unsent-backlog policy of a connection, as a function of numbers (no sockets here):
 * warn when the bytes waiting to be written pass the threshold (1 MiB), again each time they
 * double, once more with 0 when they drain; past the hard limit, close the connection instead
 * of buffering without bound (a client that stopped reading must not exhaust the server).
 */
export interface BacklogState {
  /** The backlog size that triggers the next warning; 0 means none was given yet. */
  next: number;
}

export type BacklogAction =
  | { kind: "none" }
  | { kind: "warn"; kib: number }
  | { kind: "drained" }
  | { kind: "close"; bytes: number };

export function backlogState(): BacklogState {
  return { next: 0 };
}

/** Most checks (one per packet written) find nothing to do: they share one (frozen) answer. */
const NONE: BacklogAction = Object.freeze({ kind: "none" });

/** Call after each write and on drain with the bytes now waiting; mutates `state`. */
export function backlogCheck(state: BacklogState, bytes: number, warnAt: number, limit: number): BacklogAction {
  if (!(warnAt > 0)) throw new RangeError(`the backlog warning threshold must be positive, not ${warnAt}`);
  if (bytes > limit) return { kind: "close", bytes };
  if (bytes === 0) {
    if (state.next === 0) return NONE;
    state.next = 0;
    return { kind: "drained" };
  }
  const threshold = state.next || warnAt;
  if (bytes <= threshold) return NONE;
  // Doubling from the size seen, so one huge write gives one warning, not one per doubling.
  let next = threshold;
  while (next < bytes) next *= 2;
  state.next = next;
  return { kind: "warn", kib: Math.floor(bytes / 1024) };
}

/**
 * Whether the gate stops reading a connection's requests, given whether it does now and the
 * unsent bytes: past `warnAt` (the warning threshold, 1 MiB) it stops, at half of it or less it
 * reads again. A client that does not read its answers cannot make its agent produce more, so
 * what the server holds for it stays near `warnAt` plus the requests already read, far below
 * the hard limit. The gap between the marks keeps a backlog hovering at `warnAt` from pausing
 * and resuming the socket on every write.
 */
export function holdsReading(held: boolean, bytes: number, warnAt: number): boolean {
  return held ? bytes > warnAt / 2 : bytes > warnAt;
}
