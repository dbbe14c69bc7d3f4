/**
 * Inbound backpressure of the ready gate: a connection is not read while the service its
 * packets go to (its agent, or the watchdog for accepted connections) is loaded past the mark,
 * and is read again once that service is back to half of it. Without this a client that sends
 * without pause fills its agent's mailbox until the worker runs out of heap.
 *
 * The runtime watches the target's load (svc.watchMailbox: messages waiting plus handlers still
 * running, across workers); the gate keeps one watch per target, shared by every connection
 * forwarded to it (the watchdog may own thousands), and drops it with the last of them. The
 * packets themselves pay nothing for this: the runtime counts, the gate acts on a change.
 */
import type { Handle } from "../runtime/handle.js";
import type { Gate } from "./gateserver.js";

/**
 * The runtime's load watch (svc.watchMailbox): `onChange(true)` once `addr`'s load reaches
 * `mark`, `onChange(false)` once it is back to mark/2 or below, and when `addr` exits (then no
 * more calls). Answers the function that unwatches.
 */
export type WatchMailbox = (addr: Handle, mark: number, onChange: (full: boolean) => void) => () => void;

interface Target {
  handle: Handle;
  /** The connections whose packets go to it. */
  fds: Set<number>;
  full: boolean;
  unwatch: () => void;
}

export interface InboundGuard {
  /** fd's packets go to `target` from now on: it is held while that target is loaded. */
  route(fd: number, target: Handle): void;
  /** fd is gone. */
  drop(fd: number): void;
  /** Targets watched now and how many of them are loaded (for tests and the console). */
  watched(): { targets: number; full: number };
}

const never = (): void => {};

/** Holds each connection of `gate` while its target is loaded past `mark` (see the file's comment). */
export function inboundGuard(watch: WatchMailbox, gate: Gate, mark: () => number): InboundGuard {
  const targets = new Map<Handle, Target>();
  const targetOf = new Map<number, Target>();

  const change = (t: Target, full: boolean): void => {
    // A watch dropped (its last connection went) may still have had a call on its way.
    if (targets.get(t.handle) !== t || t.full === full) return;
    t.full = full;
    for (const fd of t.fds) {
      if (full) gate.pauseclient(fd, "backpressure");
      else gate.resumeclient(fd, "backpressure");
    }
  };

  const leave = (fd: number, t: Target): void => {
    t.fds.delete(fd);
    targetOf.delete(fd);
    if (t.fds.size > 0) return;
    targets.delete(t.handle);
    t.unwatch();
  };

  return {
    route(fd, handle) {
      const old = targetOf.get(fd);
      if (old?.handle === handle) return;
      if (old !== undefined) {
        leave(fd, old);
        if (old.full) gate.resumeclient(fd, "backpressure");
      }
      let t = targets.get(handle);
      if (t === undefined) {
        const fresh: Target = { handle, fds: new Set(), full: false, unwatch: never };
        targets.set(handle, fresh);
        fresh.unwatch = watch(handle, mark(), (full) => change(fresh, full));
        t = fresh;
      }
      t.fds.add(fd);
      targetOf.set(fd, t);
      if (t.full) gate.pauseclient(fd, "backpressure");
    },
    drop(fd) {
      const t = targetOf.get(fd);
      if (t !== undefined) leave(fd, t);
    },
    watched() {
      let full = 0;
      for (const t of targets.values()) if (t.full) full++;
      return { targets: targets.size, full };
    },
  };
}
