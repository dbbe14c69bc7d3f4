/** The gates' packet-rate limit (lib/ratelimit.ts), a token bucket, as a function of numbers. */
import { describe, expect, it } from "vitest";
import { msUntil, rateLimitOf, refill, takeToken, tokenBucket } from "weft/internal";

const limit = { rate: 100, burst: 10 };

describe("takeToken and msUntil", () => {
  it("lets a full bucket's burst through at once, then refuses until it refilled", () => {
    const b = tokenBucket(limit, 0);
    for (let i = 0; i < 10; i++) expect(takeToken(b, 0, limit)).toBe(true);
    expect(takeToken(b, 0, limit)).toBe(false);
    // One token comes every 1/100 s.
    expect(msUntil(b, 1, limit)).toBe(10);
    expect(takeToken(b, 9, limit)).toBe(false);
    expect(takeToken(b, 10, limit)).toBe(true);
  });

  it("refills at `rate` per second, never past `burst`", () => {
    const b = tokenBucket(limit, 0);
    for (let i = 0; i < 10; i++) takeToken(b, 0, limit);
    refill(b, 50, limit);
    expect(b.tokens).toBe(5);
    // An hour of silence still gives only a burst.
    refill(b, 3_600_000, limit);
    expect(b.tokens).toBe(10);
  });

  it("says how long until a batch of waiting packets has its tokens, a burst at most", () => {
    const b = { tokens: 0.5, at: 0 };
    expect(msUntil(b, 3, limit)).toBe(25);
    expect(msUntil(b, 1000, limit)).toBe(95);
    expect(msUntil({ tokens: 4, at: 0 }, 3, limit)).toBe(0);
  });

  it("holds a client sending faster than the rate to the rate", () => {
    const b = tokenBucket(limit, 0);
    let now = 0;
    let sent = 0;
    // 1,000 packets, each waiting as long as it is told to.
    while (sent < 1000) {
      if (takeToken(b, now, limit)) sent++;
      else now += msUntil(b, 1, limit);
    }
    // The first burst of 10 was free: 990 packets at 100/s.
    expect(now).toBe(9900);
  });

  it("does not count a clock that went back as time that passed", () => {
    const b = tokenBucket(limit, 1000);
    for (let i = 0; i < 10; i++) takeToken(b, 1000, limit);
    expect(takeToken(b, 900, limit)).toBe(false);
    expect(b.at).toBe(1000);
  });
});

describe("rateLimitOf: open's rate and burst", () => {
  it("is off unless a rate is given", () => {
    expect(rateLimitOf({})).toBeUndefined();
    expect(rateLimitOf({ rate: 0 })).toBeUndefined();
  });

  it("takes a second's worth as the burst by default", () => {
    expect(rateLimitOf({ rate: 500 })).toEqual({ rate: 500, burst: 500 });
    expect(rateLimitOf({ rate: 0.5 })).toEqual({ rate: 0.5, burst: 1 });
    expect(rateLimitOf({ rate: 500, burst: 20 })).toEqual({ rate: 500, burst: 20 });
  });

  it("refuses a rate or burst that is not a positive number, and a burst without a rate", () => {
    expect(() => rateLimitOf({ rate: -1 })).toThrow(/rate must be a positive number/);
    expect(() => rateLimitOf({ rate: "fast" })).toThrow(/rate must be a positive number/);
    expect(() => rateLimitOf({ rate: 10, burst: 0.5 })).toThrow(/burst must be a number of packets, at least 1/);
    expect(() => rateLimitOf({ burst: 10 })).toThrow(/burst \(10\) needs a rate/);
  });
});
