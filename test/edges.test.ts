/**
 * Behaviour at the edges of the service API, each case once found by review: nothing here may
 * hang, crash a worker, reorder a sender's messages or surface the wrong error class.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatHandle, ServiceStartError } from "weft";
import { fixtures, logFile, rejectionOf, startRuntime } from "./helpers.js";

const plainFixtures = fileURLToPath(new URL("./fixtures/cli/", import.meta.url));

describe("a handler that takes over its answer with response() and then throws", () => {
  it("answers the call with the error, and its worker lives on", async () => {
    const rt = await startRuntime();
    const edge = await rt.newServiceOn(1, "edge");
    const neighbour = await rt.newServiceOn(1, "echo");
    const err = await rejectionOf(rt.call(edge, "deferThenThrow"));
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR" });
    expect(err.message).toContain("failed after response()");
    expect(await rt.call(neighbour, "echo", "still here")).toBe("still here");
    expect(await rt.lost()).toEqual([]);
  });
});

describe("sends to a name this worker does not know yet", () => {
  it("are never overtaken by later sends, however the name's news travels", async () => {
    const rt = await startRuntime();
    for (let round = 0; round < 5; round++) {
      const sender = await rt.newServiceOn(1, "edge");
      const receiver = await rt.newServiceOn(2, "edge");
      const name = `edge_target_${round}`;
      // The sends span the registration: those before it are dropped (and logged), those
      // after it must arrive in order, whether they went through a lookup or straight.
      const sending = rt.call(sender, "sendNumbered", name, 0, 1000);
      await rt.call(receiver, "registerAs", name);
      await sending;
      const got = (await rt.call(receiver, "received", 999)) as number[];
      expect(got.every((n, i) => i === 0 || n > got[i - 1]), `round ${round}: ${got.join(",")}`).toBe(true);
      expect(got.length, `round ${round}: the sends after the registration all arrive`).toBeGreaterThan(0);
    }
  });
});

describe("exit hooks", () => {
  it("may call other services before the exiting service is gone", async () => {
    const rt = await startRuntime();
    const keeper = await rt.newServiceOn(2, "edge");
    const leaving = await rt.newServiceOn(1, "edge", keeper);
    expect(await rt.kill(leaving)).toBe(true);
    expect(await rt.call(keeper, "notes")).toEqual([`goodbye from ${formatHandle(leaving)}`]);
  });
});

describe("the endless-loop monitor", () => {
  it("also reports a loop that starts when a call's answer resumes the caller", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 300, stuckWorker: 0 });
    const caller = await rt.newServiceOn(1, "edge");
    const callee = await rt.newServiceOn(2, "edge");
    expect(await rt.call(caller, "spinAfterCall", callee, 1200)).toBe("done");
    const line = await log.waitFor(/maybe an endless loop/);
    expect(line).toContain(formatHandle(caller));
    expect(line).toContain('"notes"');
  });
});

describe("errors that keep their class", () => {
  it("a module that does not parse fails to start with ServiceStartError naming it", async () => {
    const rt = await startRuntime({ servicePath: [fixtures, plainFixtures] });
    const err = await rejectionOf(rt.newService("broken"));
    expect(err).toBeInstanceOf(ServiceStartError);
    expect(err.message).toContain("broken");
    expect(err.message).not.toContain("protocol 4");
  });

  it("a worker number that does not exist is a ConfigError; killing an address on it gives false", async () => {
    const rt = await startRuntime();
    await expect(rt.newServiceOn(7, "echo")).rejects.toMatchObject({ code: "WEFT_CONFIG" });
    expect(await rt.kill(0x07000001)).toBe(false);
    await expect(rt.call(0x07000001, "echo", 1)).rejects.toMatchObject({ code: "WEFT_NO_SUCH_SERVICE" });
  });
});

describe("the launcher's list", () => {
  it("does not keep services that exit as soon as they start", async () => {
    const rt = await startRuntime();
    const before = (await rt.list()).length;
    const quick = await Promise.all(Array.from({ length: 40 }, () => rt.newService("life_hooked", "/dev/null", "quick", true)));
    const listed = new Set((await rt.list()).map((r) => r.handle));
    expect(quick.filter((h) => listed.has(h))).toEqual([]);
    expect((await rt.list()).length).toBe(before);
  });
});

describe("names of the main thread's services", () => {
  it("are forgotten by every worker when the service exits", async () => {
    const rt = await startRuntime();
    const asker = await rt.newServiceOn(2, "msg_names");
    expect(await rt.queryName(".launcher")).toEqual(expect.any(Number));
    const logger = (await rt.queryName(".logger"))!;
    expect(await rt.kill(logger)).toBe(true);
    expect(await rt.call(asker, "queryName", ".logger")).toBeUndefined();
  });
});
