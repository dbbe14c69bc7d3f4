/**
 * Runs the services of one thread that have mail. Work is drained in microtasks, so a call
 * between two services on the same thread costs no event-loop turn; after a budget of messages
 * or milliseconds the scheduler steps aside with setImmediate so sockets and timers get a turn.
 */
import { performance } from "node:perf_hooks";
import { defaults } from "./defaults.js";
import { Fifo } from "./fifo.js";
import type { ServiceInstance } from "./service.js";

const SLICE_MS = 10;

/** A native microtask: queueMicrotask's async_hooks wrapper costs more than the work it schedules. */
const resolved = Promise.resolve();

export class Scheduler {
  private readonly runQueue = new Fifo<ServiceInstance>();
  private scheduled = false;
  /** Messages and time spent since the event loop last had a turn. */
  private handled = 0;
  private sliceStart = performance.now();

  constructor(private readonly flush: () => void) {}

  ready(service: ServiceInstance): void {
    if (!service.queued) {
      service.queued = true;
      this.runQueue.push(service);
    }
    this.wake();
  }

  /** Asks for a tick in this turn (to run services, or only to flush the transport). */
  readonly wake = (): void => {
    if (this.scheduled) return;
    this.scheduled = true;
    void resolved.then(this.tick);
  };

  /** The event loop just gave us a turn (a batch or a timer arrived): the budget starts again. */
  turn(): void {
    this.handled = 0;
    this.sliceStart = performance.now();
  }

  private readonly tick = (): void => {
    this.scheduled = false;
    const queue = this.runQueue;
    let now = queue.length > 0 ? performance.now() : this.sliceStart;
    while (this.handled < defaults.tickBudget) {
      const service = queue.shift();
      if (service === undefined) break;
      const start = now;
      this.handled += service.run(defaults.serviceBatch);
      now = performance.now();
      service.cpu += now - start;
      if (service.mailbox.length > 0 && service.running) queue.push(service);
      else service.queued = false;
      if (now - this.sliceStart > SLICE_MS) break;
    }
    this.flush();
    if (queue.length === 0) return;
    this.scheduled = true;
    if (this.handled >= defaults.tickBudget || now - this.sliceStart > SLICE_MS) setImmediate(this.nextTurn);
    else void resolved.then(this.tick);
  };

  private readonly nextTurn = (): void => {
    this.turn();
    this.tick();
  };
}
