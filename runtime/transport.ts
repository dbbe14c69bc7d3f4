/**
 * The seam between a host and whatever carries its messages. A message for another service
 * goes by one Transport, chosen by the destination's slot (a handle's top 8 bits): this
 * thread (the host itself), another thread of this process (its ring, rings.ts), a thread
 * whose replacement's link has not come yet (held until it does), or, for slots above the
 * worker threads, whatever a remote transport (the cluster) registers for them.
 *
 * Every transport takes bodies already sealed (codec.ts) and keeps per-sender order.
 */
import type { Handle } from "./handle.js";
import type { Control } from "./protocol.js";

export interface Transport {
  /** Carries one message, keeping each sender's order. */
  post(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void;
}

/** What a thread's transports deliver into: messages for its services, and control messages. */
export interface TransportSink {
  receive(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void;
  control(message: Control): void;
}

/** A slot's transport, or none: the routing table of one thread. */
export class Routes {
  private readonly table: (Transport | undefined)[] = new Array(256).fill(undefined);

  /** The transport for messages to `slot`, undefined when nothing carries them (a lost worker, no such slot). */
  get(slot: number): Transport | undefined {
    return this.table[slot];
  }

  set(slot: number, transport: Transport): void {
    this.table[slot] = transport;
  }

  delete(slot: number, transport?: Transport): void {
    if (transport === undefined || this.table[slot] === transport) this.table[slot] = undefined;
  }
}
