/**
 * The scheduler drains mailboxes in microtasks, but a chain of them that never ends (two
 * services calling each other in a loop on one worker) must not starve that worker's timers,
 * nor the messages other threads send it: after its budget the scheduler gives the event loop
 * a turn.
 */
import { expect, it } from "vitest";
import { startRuntime } from "./helpers.js";

it("a never-ending rally of calls on one worker leaves room for its timers and for calls from other threads", async () => {
  const rt = await startRuntime();
  const a = await rt.newServiceOn(1, "sched_ping");
  const b = await rt.newServiceOn(1, "sched_ping");
  const bystander = await rt.newServiceOn(1, "sched_ping");
  const rally = rt.call(a, "rally", b);
  // The rally is under way...
  await expect.poll(() => rt.call(a, "count"), { timeout: 5000 }).toBeGreaterThan(1000);
  // ...and a timer on the same worker still fires, and its answer still crosses to this thread.
  expect(await rt.call(bystander, "after", 20)).toBe(20);
  const before = await rt.call(a, "count");
  expect(await rt.call(bystander, "after", 20)).toBe(20);
  expect(await rt.call(a, "count")).toBeGreaterThan(before);
  const rallies = await rt.call(a, "stop");
  expect(await rally).toBeGreaterThanOrEqual(rallies);
});
