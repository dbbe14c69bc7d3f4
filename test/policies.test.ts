/**
 * The supervisor's and the load watch's policies as pure functions (no threads): which ends
 * restart which policy, the intensity window at its boundaries, and the load hysteresis.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "weft";
import { IntensityWindow, LoadWatchers, restartPolicy, shouldRestart } from "weft/internal";

describe("restart policies", () => {
  const ends = ["exit", "exit (debug console)", "killed", "worker 2 lost: worker exited with code: 1", "restart failed: boom", "shutdown"];
  it.each([
    ["permanent", [true, true, true, true, true, false]],
    ["transient", [false, false, true, true, true, false]],
    ["temporary", [false, false, false, false, false, false]],
  ] as const)("%s restarts after: exit, console exit, kill, worker lost, failed restart; never at shutdown", (policy, expected) => {
    expect(ends.map((reason) => shouldRestart(policy, reason))).toEqual(expected);
  });

  it("defaults to temporary and refuses a policy it does not know", () => {
    expect(restartPolicy(undefined)).toBe("temporary");
    expect(() => restartPolicy("always")).toThrow(ConfigError);
  });
});

describe("the restart intensity window", () => {
  it("allows `intensity` restarts within the period, not one more, and forgets those older than the period", () => {
    const window = new IntensityWindow(3, 1000);
    expect([0, 100, 200].map((t) => window.allow(t))).toEqual([true, true, true]);
    expect(window.allow(999)).toBe(false);
    // At 1000 the restart at 0 is a whole period old: it no longer counts.
    const fresh = new IntensityWindow(3, 1000);
    for (const t of [0, 100, 200]) fresh.allow(t);
    expect(fresh.allow(1000)).toBe(true);
  });

  it("with intensity 0 allows none", () => {
    expect(new IntensityWindow(0, 1000).allow(0)).toBe(false);
  });
});

describe("load watches", () => {
  it("say full once at the mark, not full once at half of it, and end with a last not-full", () => {
    const told: [number, boolean, boolean][] = [];
    const watchers = new LoadWatchers((w, full, gone) => told.push([w, full, gone]));
    watchers.add(7, 10, 0);
    for (const load of [5, 9, 10, 11, 20, 6, 5, 4, 10]) watchers.check(load);
    watchers.end();
    expect(told).toEqual([
      [7, true, false],
      [7, false, false],
      [7, true, false],
      [7, false, true],
    ]);
  });

  it("tell a new watcher at once when the load is already past its mark", () => {
    const told: boolean[] = [];
    new LoadWatchers((_w, full) => told.push(full)).add(1, 4, 4);
    expect(told).toEqual([true]);
  });
});
