import { describe, expect, it } from "vitest";
import { startRuntime } from "./helpers.js";

describe("a runtime", () => {
  it("starts services on worker threads and answers calls across them", async () => {
    const rt = await startRuntime();
    const a = await rt.newServiceOn(1, "echo");
    const b = await rt.newServiceOn(2, "echo");
    expect(await rt.call(a, "whoami")).toMatchObject({ worker: 1 });
    expect(await rt.call(b, "whoami")).toMatchObject({ worker: 2 });
    expect(await rt.call(b, "args", 1, "two", { three: [3] })).toEqual([1, "two", { three: [3] }]);
  });
});
