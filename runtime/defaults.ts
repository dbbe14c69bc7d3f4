/**
 * Every limit and default in one table, so the README, the config checker and the code agree.
 * Times are milliseconds (skynet counts 1/100 s ticks).
 */
export const defaults = Object.freeze({
  /** Mailbox length that first triggers "may overload"; the threshold then doubles. */
  overload: 1024,
  /** A handler running this long without returning is reported as a possible endless loop. */
  endlessLoopMs: 5000,
  /** A worker in one message for this many times endlessLoop is terminated and replaced (config stuckWorker). */
  stuckWorkerFactor: 3,
  /** Supervised restarts allowed within restartPeriodMs; one more stops the node (exit code 1), as an OTP supervisor gives up. */
  restartIntensity: 5,
  restartPeriodMs: 10_000,
  /** The largest netpack payload: the 2-byte length header cannot say more. */
  packetMax: 65535,
  /** The largest websocket message, either way, through the websocket gate (`maxPayload`). */
  wsMaxPayload: 64 * 1024,
  /** Connections a gate accepts before it closes new ones at once. */
  maxclient: 1024,
  /** Unsent bytes on one connection that trigger the gate's warning (then at each doubling). */
  backlogWarning: 1024 * 1024,
  /** Unsent bytes on one connection past which the gate closes it instead of buffering more. */
  backlogLimit: 64 * 1024 * 1024,
  /** Messages one service handles in a row before the scheduler moves to the next one. */
  serviceBatch: 64,
  /** Messages handled in microtasks before the scheduler lets I/O in (setImmediate). */
  tickBudget: 16384,
  /** Milliseconds of handling before the scheduler lets I/O in, whatever the count. */
  sliceMs: 10,
  /**
   * Bytes a thread may have waiting for room in its rings (the receiving threads are slower)
   * before it is backed up (its gates stop reading), and the level it drains to before it is not.
   */
  linkBacklogHigh: 8 * 1024 * 1024,
  linkBacklogLow: 2 * 1024 * 1024,
  /** Records written to one other worker's ring before they are published without waiting for the turn to end. */
  transportBatch: 32,
  /**
   * How long a thread keeps polling its rings after its last traffic before it sleeps. Longer
   * means lower latency and throughput closer to the machine's limit under bursty load, at the
   * price of CPU spent polling between bursts; 0 sleeps at once (a wake-up costs a system call).
   */
  spinMs: 1,
  /** How long a clean shutdown may take before the process gives up waiting. */
  shutdownMs: 5000,
  /** Per-call timeout; 0 means none, as in skynet. */
  callTimeoutMs: 0,
  // gates (issue 11)
  /** How long a websocket gate waits for a new socket's upgrade request before it closes it (`upgradeTimeout`, given in seconds). */
  wsUpgradeTimeoutMs: 10_000,
  /** Lines of one kind a gate logs per window (cuts, errors, failing handlers); then one line counts the rest. */
  gateLogLines: 10,
  /** The window of `gateLogLines`. */
  gateLogWindowMs: 10_000,
});

export type Defaults = typeof defaults;
