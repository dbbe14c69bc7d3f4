/**
 * The environment only stores values (issue 11, point 11): the runtime's own settings are read
 * once at start, and no key can reach a prototype.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "weft";
import { rejectionOf, startRuntime } from "./helpers.js";

describe("setenv", () => {
  it("refuses the runtime's own settings, which keep the value they started with", async () => {
    const rt = await startRuntime({ callTimeout: 0 });
    const slow = await rt.newServiceOn(2, "sup_worker");

    const err = await rejectionOf(rt.setenv("callTimeout", 1));

    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('"callTimeout": it is a runtime setting, read once at start');
    expect(rt.getenv("callTimeout")).toBe(0);
    // Calls still have no default timeout: one that takes a while is answered.
    const held = rt.call(slow, "hold");
    await rt.call(slow, "whoami");
    expect(await rt.call(slow, "release")).toBe(1);
    await held;
  });

  it("refuses __proto__, constructor and prototype, and the table's prototype stays untouched on every thread", async () => {
    const rt = await startRuntime();
    const probe = await rt.newServiceOn(2, "env_probe");
    for (const key of ["__proto__", "constructor", "prototype"]) {
      const err = await rejectionOf(rt.setenv(key, { polluted: true }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain(`setenv refuses "${key}"`);
    }
    // Even sent straight to the kernel, past the caller's own check.
    await expect(rt.rawCall(0, "system", { op: "setenv", key: "__proto__", value: { polluted: true } })).rejects.toThrow(/refuses "__proto__"/);
    expect(await rt.call(probe, "look")).toEqual({ polluted: undefined, hasProto: false });
    expect(rt.getenv("polluted")).toBeUndefined();
  });

  it("stores a user's key on every thread", async () => {
    const rt = await startRuntime();
    const probe = await rt.newServiceOn(2, "env_probe");
    await rt.setenv("motd", "hello");
    expect(await rt.call(probe, "get", "motd")).toBe("hello");
  });
});
