/**
 * The per-connection packet-rate limit of the gates, as a function of numbers: a token bucket
 * that holds up to `burst` tokens and gains `rate` per second; each packet takes one. A packet
 * that finds no token waits (the gate stops reading the connection and keeps the packets it
 * had read already, at most one read's worth, in order) until the bucket has refilled: the
 * client is slowed to `rate`, and nothing it sent is dropped.
 */

export interface TokenBucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, any clock). */
  at: number;
}

export interface RateLimit {
  /** Packets per second, on average. */
  rate: number;
  /** Packets that may come at once, after a quiet while. */
  burst: number;
}

/** A full bucket at `now`. */
export const tokenBucket = (limit: RateLimit, now: number): TokenBucket => ({ tokens: limit.burst, at: now });

/** Brings `bucket` up to `now`: `rate` tokens a second, never more than `burst`. A clock that went back adds nothing. */
export function refill(bucket: TokenBucket, now: number, limit: RateLimit): void {
  if (now <= bucket.at) return;
  bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) * limit.rate) / 1000);
  bucket.at = now;
}

/** Takes one token at `now` if there is one; false: the packet must wait. Mutates `bucket`. */
export function takeToken(bucket: TokenBucket, now: number, limit: RateLimit): boolean {
  refill(bucket, now, limit);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/**
 * Milliseconds from the bucket's last update until it holds `wanted` tokens (at most `burst`),
 * so the packets waiting can go in batches rather than one timer per packet.
 */
export function msUntil(bucket: TokenBucket, wanted: number, limit: RateLimit): number {
  const target = Math.min(wanted, limit.burst);
  if (bucket.tokens >= target) return 0;
  return Math.ceil(((target - bucket.tokens) * 1000) / limit.rate);
}

/** `open`'s `rate` and `burst`, checked: undefined when there is no limit (rate unset or 0). */
export function rateLimitOf(options: { rate?: unknown; burst?: unknown }): RateLimit | undefined {
  const { rate, burst } = options;
  if (rate === undefined || rate === 0) {
    if (burst !== undefined) throw new RangeError(`burst (${String(burst)}) needs a rate`);
    return undefined;
  }
  if (typeof rate !== "number" || !(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number of packets per second, not ${String(rate)}`);
  // By default a second's worth may come at once.
  const b = burst ?? Math.max(1, rate);
  if (typeof b !== "number" || !(b >= 1) || !Number.isFinite(b)) throw new RangeError(`burst must be a number of packets, at least 1, not ${String(burst)}`);
  return { rate, burst: b };
}
