/**
 * Log lines an attacker cannot flood: at most `lines` lines per key in a window of `windowMs`,
 * then one line saying how many more there were. A client that resets 3,000 connections, or
 * sends 3,000 packets that make a handler throw, gives the operator a dozen lines, not 3,000.
 *
 * The policy is a pure function of time (`admit`, `due`: state, key, now in, lines to write
 * out); `rateLimitedLog` binds it to a writer, a clock and a timer for the summaries.
 *
 * @example
 * const log = rateLimitedLog((line) => svc.log(line));
 * log.line("cut", `gate: fd ${fd} (${peer}) cut: ${reason}`);
 */
import { performance } from "node:perf_hooks";
import { defaults } from "../runtime/defaults.js";

export interface RateLogPolicy {
  /** Lines written per key in one window; the rest are counted. */
  lines: number;
  windowMs: number;
}

/** One key's window: it starts with the key's first line and lasts `windowMs`. */
interface Window {
  start: number;
  written: number;
  dropped: number;
  /** The last line dropped, repeated in the summary so it says what was repeated. */
  last: string;
}

/** Every key's open window. */
export type RateLogState = Map<string, Window>;

export const rateLogState = (): RateLogState => new Map();

/** The line that closes a window in which `dropped` lines were not written. */
export const summaryLine = (last: string, dropped: number, seconds: number): string =>
  `${last} … (repeated ${dropped} time${dropped === 1 ? "" : "s"} in the last ${seconds} s)`;

/** Seconds with at most one decimal, as a person reads them: 10, 2.5. */
const secondsOf = (ms: number): number => Math.round(ms / 100) / 10;

/** Ends `key`'s window: its summary line if it dropped any. */
function close(state: RateLogState, key: string, w: Window, now: number, policy: RateLogPolicy, out: string[]): void {
  state.delete(key);
  if (w.dropped > 0) out.push(summaryLine(w.last, w.dropped, secondsOf(Math.min(now, w.start + policy.windowMs) - w.start)));
}

/**
 * The lines to write for `line` of `key` at `now`: [] (dropped, counted), [line], or, when the
 * key's previous window ended with lines dropped, [its summary, line].
 */
export function admit(state: RateLogState, key: string, line: string, now: number, policy: RateLogPolicy): string[] {
  const out: string[] = [];
  let w = state.get(key);
  if (w !== undefined && now >= w.start + policy.windowMs) {
    close(state, key, w, now, policy, out);
    w = undefined;
  }
  if (w === undefined) {
    w = { start: now, written: 0, dropped: 0, last: "" };
    state.set(key, w);
  }
  if (w.written < policy.lines) {
    w.written++;
    out.push(line);
  } else {
    w.dropped++;
    w.last = line;
  }
  return out;
}

/**
 * Summaries of the windows that ended by `now` (all of them with `all`, as when the service
 * exits), which are then forgotten.
 */
export function due(state: RateLogState, now: number, policy: RateLogPolicy, all = false): string[] {
  const out: string[] = [];
  for (const [key, w] of state) if (all || now >= w.start + policy.windowMs) close(state, key, w, now, policy, out);
  return out;
}

/** When the next window ends (Infinity: none has dropped a line, so no summary is waiting). */
export function nextDue(state: RateLogState, policy: RateLogPolicy): number {
  let at = Infinity;
  for (const w of state.values()) if (w.dropped > 0) at = Math.min(at, w.start + policy.windowMs);
  return at;
}

export interface RateLimitedLog {
  /** Writes `line` unless `key` has had its share of this window. */
  line(key: string, line: string): void;
  /** Writes every summary waiting now (the service is exiting). */
  flush(): void;
}

/** `admit` and `due` over a writer, with a timer that writes each summary when its window ends. */
export function rateLimitedLog(
  write: (line: string) => void,
  policy: RateLogPolicy = { lines: defaults.gateLogLines, windowMs: defaults.gateLogWindowMs },
  now: () => number = () => performance.now(),
): RateLimitedLog {
  const state = rateLogState();
  let timer: NodeJS.Timeout | undefined;
  const writeAll = (lines: string[]) => {
    for (const l of lines) write(l);
  };
  const arm = () => {
    if (timer !== undefined) return;
    const at = nextDue(state, policy);
    if (at === Infinity) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        writeAll(due(state, now(), policy));
        arm();
      },
      Math.max(0, at - now()),
    );
    // A summary never keeps a process alive.
    timer.unref();
  };
  return {
    line(key, line) {
      const lines = admit(state, key, line, now(), policy);
      writeAll(lines);
      if (lines.length === 0) arm();
    },
    flush() {
      clearTimeout(timer);
      timer = undefined;
      writeAll(due(state, now(), policy, true));
    },
  };
}
