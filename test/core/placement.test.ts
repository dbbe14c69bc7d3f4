/**
 * Placement by shared counts (runtime/placement): the least-loaded worker takes a launch, and a
 * lost worker takes none until its replacement is ready, since a launch sent before every
 * thread switched to the new link would be lost with the old one.
 */
import { describe, expect, it } from "vitest";
import { loadOf, placementLost, placementReady, releaseLoad, reserve } from "weft/internal";

const counts = () => new Int32Array(new SharedArrayBuffer(256 * 4));

describe("placement", () => {
  it("spreads a burst over the workers, lowest number first among equals", () => {
    const loads = counts();
    expect(Array.from({ length: 6 }, () => reserve(loads, 3))).toEqual([1, 2, 3, 1, 2, 3]);
    releaseLoad(loads, 2);
    expect(reserve(loads, 3)).toBe(2);
  });

  it("places nothing on a lost worker until its replacement is ready, then counts what was sent there by number", () => {
    const loads = counts();
    for (let i = 0; i < 4; i++) reserve(loads, 2);
    placementLost(loads, 1);
    expect(Array.from({ length: 5 }, () => reserve(loads, 2))).toEqual([2, 2, 2, 2, 2]);
    expect(reserve(loads, 2, 1)).toBe(1); // asked for by number: it waits for the replacement
    placementReady(loads, 1);
    expect(loadOf(loads, 1)).toBe(1);
    expect(reserve(loads, 2)).toBe(1);
    // A first start's ready changes nothing.
    placementReady(loads, 2);
    expect(loadOf(loads, 2)).toBe(7);
  });
});
