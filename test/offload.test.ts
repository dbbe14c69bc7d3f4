/** svc.offload: stateless CPU-heavy jobs on a second piscina pool, off the services' workers. */
import { describe, expect, it } from "vitest";
import { rejectionOf, startRuntime } from "./helpers.js";

describe("svc.offload", () => {
  it("runs a job on another thread and answers with its result, while the service keeps answering", async () => {
    const rt = await startRuntime({ offloadThreads: 1 });
    const s = await rt.newService("offloader");
    const slow = rt.call(s, "fib", 30);
    // The job runs elsewhere: the service answers meanwhile.
    expect(await rt.call(s, "ping")).toBe("pong");
    expect(await slow).toBe(832040);
    const [jobThread, myThread] = await Promise.all([rt.call(s, "jobThread"), rt.call(s, "myThread")]);
    expect(jobThread).not.toBe(myThread);
  });

  it("passes a job's error back to the caller", async () => {
    const rt = await startRuntime({ offloadThreads: 1 });
    const s = await rt.newService("offloader");
    const err = await rejectionOf(rt.call(s, "fib", -1));
    expect(err.message).toContain("fib of a negative number (-1)");
    expect(await rt.call(s, "fib", 10)).toBe(55);
  });
});
