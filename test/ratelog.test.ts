/**
 * The rate-limited log (lib/ratelog.ts) as the pure function of time it is: `admit` and `due`
 * with explicit times, at every boundary of the window; then the wrapper with its own clock.
 */
import { describe, expect, it } from "vitest";
import { rateLimitedLog, rateLogAdmit as admit, rateLogDue as due, rateLogNextDue as nextDue, rateLogState, rateLogSummary as summaryLine } from "weft/internal";

const policy = { lines: 3, windowMs: 10_000 };

/** Each [time, key, line] in turn through one state: what each wrote. */
function run(steps: [number, string, string][]) {
  const state = rateLogState();
  return steps.map(([now, key, line]) => admit(state, key, line, now, policy));
}

describe("admit and due", () => {
  it("writes the first `lines` lines of a key in its window and drops the rest", () => {
    expect(run([[0, "k", "a"], [1, "k", "b"], [2, "k", "c"], [3, "k", "d"], [9999, "k", "e"]])).toEqual([["a"], ["b"], ["c"], [], []]);
  });

  it("keeps each key's share apart", () => {
    expect(run([[0, "x", "x1"], [0, "x", "x2"], [0, "x", "x3"], [0, "x", "x4"], [1, "y", "y1"]])).toEqual([["x1"], ["x2"], ["x3"], [], ["y1"]]);
  });

  it("starts a new window at the end of the last one, with a summary of what it dropped first", () => {
    expect(run([[0, "k", "a"], [0, "k", "b"], [0, "k", "c"], [5, "k", "d"], [6, "k", "e"], [10_000, "k", "f"]])).toEqual([
      ["a"], ["b"], ["c"], [], [],
      ["e … (repeated 2 times in the last 10 s)", "f"],
    ]);
  });

  it("says nothing more when a window ends without drops", () => {
    expect(run([[0, "k", "a"], [10_000, "k", "b"], [20_000, "k", "c"]])).toEqual([["a"], ["b"], ["c"]]);
  });

  it("gives due summaries once their window has ended, and only then", () => {
    const state = rateLogState();
    for (const line of ["a", "b", "c", "d"]) admit(state, "k", line, 100, policy);
    expect(nextDue(state, policy)).toBe(10_100);
    expect(due(state, 10_099, policy)).toEqual([]);
    expect(due(state, 10_100, policy)).toEqual(["d … (repeated 1 time in the last 10 s)"]);
    expect(due(state, 10_200, policy)).toEqual([]);
    expect(nextDue(state, policy)).toBe(Infinity);
    // The key's next line opens a new window.
    expect(admit(state, "k", "e", 10_300, policy)).toEqual(["e"]);
  });

  it("says how long the window ran when told to give every summary early", () => {
    const state = rateLogState();
    for (const line of ["a", "b", "c", "d", "e"]) admit(state, "k", line, 0, policy);
    expect(due(state, 2500, policy, true)).toEqual(["e … (repeated 2 times in the last 2.5 s)"]);
    expect(state.size).toBe(0);
  });

  it("writes the summary as '<last line> … (repeated K times in the last T s)'", () => {
    expect(summaryLine("gate: fd 3 cut", 41, 10)).toBe("gate: fd 3 cut … (repeated 41 times in the last 10 s)");
  });
});

describe("rateLimitedLog", () => {
  it("writes the summary of a window when it ends, by its own timer", async () => {
    let now = 0;
    const lines: string[] = [];
    let wrote!: () => void;
    const summary = new Promise<void>((resolve) => (wrote = resolve));
    const log = rateLimitedLog((l) => (lines.push(l), l.includes("repeated") && wrote()), { lines: 1, windowMs: 200 }, () => now);
    log.line("k", "one");
    log.line("k", "two");
    log.line("k", "three");
    expect(lines).toEqual(["one"]);
    now = 200;
    await summary;
    expect(lines).toEqual(["one", "three … (repeated 2 times in the last 0.2 s)"]);
  });

  it("writes what is waiting at flush", () => {
    let now = 0;
    const lines: string[] = [];
    const log = rateLimitedLog((l) => lines.push(l), { lines: 1, windowMs: 60_000 }, () => now);
    log.line("k", "one");
    log.line("k", "two");
    now = 1500;
    log.flush();
    expect(lines).toEqual(["one", "two … (repeated 1 time in the last 1.5 s)"]);
  });
});
