/**
 * What a test client has received, in order, and a way to wait for the Nth item: the part the
 * TCP client (net-client.ts) and the websocket client (ws-client.ts) share.
 */
const DEFAULT_WAIT = 10_000;

export class Arrivals<T> {
  readonly items: T[] = [];
  private waiters: { n: number; done: () => void }[] = [];
  private ended = false;

  /** `what` names the items in messages ("packets"); `who` names the client (its peer). */
  constructor(
    private readonly what: string,
    private readonly who: () => string,
  ) {}

  push(item: T): void {
    this.items.push(item);
    const ready = this.waiters.filter((w) => w.n <= this.items.length);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.n > this.items.length);
    for (const w of ready) w.done();
  }

  /** Nothing more will come: every waiter hears now. */
  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w.done();
  }

  /** Resolves with the first `n` items once that many arrived; rejects if nothing more can come first, or after `ms`. */
  async first(n: number, ms = DEFAULT_WAIT): Promise<T[]> {
    if (this.items.length < n) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${this.who()}: ${this.items.length} of ${n} ${this.what} after ${ms} ms`)), ms);
        const done = () => {
          clearTimeout(timer);
          if (this.items.length >= n) resolve();
          else reject(new Error(`${this.who()}: closed after ${this.items.length} of ${n} ${this.what}`));
        };
        if (this.ended) done();
        else this.waiters.push({ n, done });
      });
    }
    return this.items.slice(0, n);
  }
}
