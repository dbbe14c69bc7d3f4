/**
 * One bad service does not take its worker's neighbours (issue 11, point 3): an unhandled
 * promise rejection or an exception thrown outside any handler is logged with the address of
 * the service the thread ran last, and the worker, with every other service on it, goes on.
 */
import { describe, expect, it } from "vitest";
import { formatHandle } from "weft";
import { logFile, startRuntime } from "./helpers.js";

describe.each([
  { fault: "an unhandled promise rejection", command: "rejectLater", pattern: /unhandled promise rejection on worker 2/ },
  { fault: "an exception thrown outside any handler", command: "throwLater", pattern: /uncaught exception outside any handler on worker 2/ },
])("$fault", ({ command, pattern }) => {
  it("is logged with the service's address, and its 20 neighbours keep running with their state", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const neighbours = [];
    for (let i = 0; i < 20; i++) neighbours.push(await rt.newServiceOn(2, "fault_crasher"));
    await Promise.all(neighbours.map((n, i) => rt.call(n, "keep", i)));
    const bad = await rt.newServiceOn(2, "fault_crasher");

    await rt.call(bad, command, `from ${formatHandle(bad)}`);
    const line = await log.waitFor(pattern);

    expect(line).toContain(`(last ran ${formatHandle(bad)} (fault_crasher))`);
    expect(line).toContain(`Error: from ${formatHandle(bad)}`);
    expect(line).toContain("the worker keeps running");
    expect(await Promise.all(neighbours.map((n) => rt.call(n, "kept")))).toEqual(neighbours.map((_, i) => i));
    expect(await rt.call(bad, "whoami")).toEqual({ address: formatHandle(bad), worker: 2 });
    expect(await rt.lost()).toEqual([]);
  });
});
