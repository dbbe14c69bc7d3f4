/**
 * The target's side of svc.watchMailbox: who watches one service's load (messages waiting plus
 * handlers still running) and what each was last told. Full at the mark, not full again at half
 * of it: the hysteresis keeps a busy agent from flapping its gate's reading on and off.
 */
import type { Handle } from "./handle.js";

/** How a change reaches a watcher (one system message to its thread). */
export type TellLoad = (watcher: Handle, full: boolean, gone: boolean) => void;

export class LoadWatchers {
  private readonly watches = new Map<Handle, { mark: number; full: boolean }>();

  constructor(private readonly tell: TellLoad) {}

  get size(): number {
    return this.watches.size;
  }

  /** Watching again replaces the mark; the new watcher learns at once if the load is past it. */
  add(watcher: Handle, mark: number, load: number): void {
    this.watches.set(watcher, { mark: Math.max(1, mark), full: false });
    this.check(load);
  }

  delete(watcher: Handle): void {
    this.watches.delete(watcher);
  }

  check(load: number): void {
    for (const [watcher, watch] of this.watches) {
      if (!watch.full && load >= watch.mark) {
        watch.full = true;
        this.tell(watcher, true, false);
      } else if (watch.full && load <= watch.mark >> 1) {
        watch.full = false;
        this.tell(watcher, false, false);
      }
    }
  }

  /** The target exits: every watcher hears "not full" once more, and no more. */
  end(): void {
    for (const watcher of this.watches.keys()) this.tell(watcher, false, true);
    this.watches.clear();
  }
}
