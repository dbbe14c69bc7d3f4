/**
 * svc.request(): many calls sent at once, answers taken as they arrive, the rest given up at
 * the select's timeout (skynet.request / select).
 */
import { describe, expect, it } from "vitest";
import { useRuntime } from "./helpers.js";

const runtime = useRuntime();

async function setup() {
  const rt = runtime();
  const driver = await rt.newServiceOn(1, "req_driver");
  const near = await rt.newServiceOn(1, "req_target");
  const far = await rt.newServiceOn(2, "req_target");
  return { rt, driver, near, far };
}

describe("svc.request and select", () => {
  it("yields every answer, from targets on both workers, as they arrive", async () => {
    const { rt, driver, near, far } = await setup();
    const asks = Array.from({ length: 50 }, (_, i) => [i % 2 ? far : near, "echo", `v${i}`]);
    const out = await rt.call(driver, "gather", asks);
    expect(out.answers).toHaveLength(50);
    expect(out.answers.map((a: { index: number }) => a.index).sort((x: number, y: number) => x - y)).toEqual([...Array(50).keys()]);
    for (const a of out.answers) expect(a).toEqual({ index: a.index, ok: true, value: `v${a.index}` });
    expect(out.unanswered).toEqual([]);
  });

  it("gives answers in arrival order: a held call comes after the ones answered at once", async () => {
    const { rt, driver, near, far } = await setup();
    const gathered = rt.call(driver, "gather", [[far, "hold", "late"], [near, "echo", "a"], [far, "echo", "b"]]);
    // The two quick answers arrive first; the held one only when released.
    await expect.poll(() => rt.call(far, "release")).toBe(1);
    const out = await gathered;
    expect(out.answers.map((a: { value: string }) => a.value)).toEqual(expect.arrayContaining(["a", "b"]));
    expect(out.answers[2]).toEqual({ index: 0, ok: true, value: "late" });
  });

  it("with one slow target, select(timeout) yields the others and drops the late answer", async () => {
    const { rt, driver, near, far } = await setup();
    const out = await rt.call(driver, "gather", [[near, "echo", 1], [far, "hold", 2], [far, "echo", 3]], 200);
    expect(out.answers).toEqual(
      expect.arrayContaining([
        { index: 0, ok: true, value: 1 },
        { index: 2, ok: true, value: 3 },
      ]),
    );
    expect(out.answers).toHaveLength(2);
    expect(out.unanswered).toEqual([1]);
    expect(out.callsAfter).toBe(0);
    // The held answer is now given and dropped by the driver, which keeps working.
    await expect.poll(() => rt.call(far, "holding")).toBe(1);
    expect(await rt.call(far, "release")).toBe(1);
    const again = await rt.call(driver, "gather", [[far, "echo", "still here"]], 1000);
    expect(again.answers).toEqual([{ index: 0, ok: true, value: "still here" }]);
  });

  it("drops an answer that comes after the deadline, even while the loop's body is busy", async () => {
    const { rt, driver, near, far } = await setup();
    await expect.poll(() => rt.call(far, "holding")).toBe(0);
    const out = await rt.call(driver, "slowLoop", near, far, 100);
    expect(out).toEqual({ answered: [0], unanswered: [1] });
  });

  it("reports a failing handler and a dead target as failed answers, not as a thrown select", async () => {
    const { rt, driver, near } = await setup();
    const dead = await rt.newServiceOn(2, "req_target");
    await rt.kill(dead);
    const out = await rt.call(driver, "gather", [[near, "fail", "boom"], [dead, "echo", 1], [".nobody", "echo", 2], [near, "echo", 3]]);
    const byIndex = Object.fromEntries(out.answers.map((a: { index: number }) => [a.index, a]));
    expect(byIndex[0]).toMatchObject({ ok: false, code: "WEFT_REMOTE_ERROR", message: expect.stringContaining("boom") });
    expect(byIndex[1]).toMatchObject({ ok: false, code: "WEFT_NO_SUCH_SERVICE" });
    expect(byIndex[2]).toMatchObject({ ok: false, code: "WEFT_NO_SUCH_SERVICE" });
    expect(byIndex[3]).toEqual({ index: 3, ok: true, value: 3 });
  });

  it("leaving the loop early gives up the calls still out", async () => {
    const { rt, driver, near, far } = await setup();
    const out = await rt.call(driver, "gather", [[far, "hold", 1], [near, "echo", 2], [far, "hold", 3]], undefined, 1);
    expect(out.answers).toEqual([{ index: 1, ok: true, value: 2 }]);
    expect(out.unanswered.sort()).toEqual([0, 2]);
    expect(out.callsAfter).toBe(0);
    // The held calls still reach far (their answers will be dropped); wait for them there.
    await expect.poll(() => rt.call(far, "holding")).toBe(2);
    expect(await rt.call(far, "release")).toBe(2);
  });

  it("an empty set selects nothing and ends at once, even without a timeout", async () => {
    const { rt, driver } = await setup();
    expect(await rt.call(driver, "gather", [])).toEqual({ answers: [], unanswered: [], callsAfter: 0 });
  });

  it("refuses a second select and an add after select ended, with WEFT_USAGE", async () => {
    const { rt, driver, near } = await setup();
    expect(await rt.call(driver, "misuse", near)).toEqual(["WEFT_USAGE", "WEFT_USAGE"]);
  });
});
