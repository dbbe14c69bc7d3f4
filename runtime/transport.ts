/**
 * Worker-to-worker messaging. Every pair of threads has its own link: a shared-memory ring in
 * each direction for messages, and a MessagePort for control and for waking a thread that
 * sleeps. Messages for one destination are gathered per turn of the event loop into one flat
 * array and written as one msgpack payload; nothing hops through the main thread.
 *
 * A thread that has just had traffic keeps polling its rings for a short while (config `spin`), so
 * under load no system call is made at all; after that it declares itself asleep, and the next
 * writer rings its doorbell (one port message). Dekker-style: the writer publishes its data
 * then reads the flag, the sleeper publishes the flag then re-reads the rings, so one of them
 * always sees the other.
 */
import createDebug from "debug";
import { performance } from "node:perf_hooks";
import type { MessagePort } from "node:worker_threads";
import { packr } from "./codec.js";
import { defaults } from "./defaults.js";
import type { Handle } from "./handle.js";
import { FIELDS, PACKED_FLAG, Packed, type Control } from "./protocol.js";
import { RingReader, RingWriter } from "./ring.js";

const trace = createDebug("weft:transport");

const AWAKE = 0;
const SLEEPING = 1;
const RUNG = 2;
const DOORBELL = 1;

/** One thread's end of a pair: the port, the ring it writes and the ring it reads. */
export interface Link {
  port: MessagePort;
  out: SharedArrayBuffer;
  in: SharedArrayBuffer;
}

export interface TransportSink {
  receive(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void;
  control(message: Control): void;
}

interface Peer {
  slot: number;
  port: MessagePort;
  writer: RingWriter;
  reader: RingReader;
}

export class Transport {
  private readonly peers: (Peer | undefined)[] = [];
  /** Links to replacement workers that came before the "replace" request. */
  private readonly offered = new Map<number, Link>();
  /** Replaced slots whose new link has not come yet: messages for them wait in `outbound`. */
  private readonly awaiting = new Set<number>();
  private readonly outbound: unknown[][] = [];
  private readonly dirty: number[] = [];
  private readonly limit = defaults.transportBatch * FIELDS;
  private pollTimer: NodeJS.Immediate | undefined;
  /** Past the high-water mark of bytes waiting for room in the rings, and not yet back under the low one. */
  private congested = false;
  private lastTraffic = 0;
  private closed = false;

  constructor(
    readonly slot: number,
    private readonly sink: TransportSink,
    /** Asks for a flush at the end of this turn. */
    private readonly requestFlush: () => void,
    /** One Int32 per slot in shared memory: AWAKE, SLEEPING or RUNG. */
    private readonly doorbells: Int32Array,
    /** Polling time after the last traffic (config `spin`). */
    private readonly spinMs: number = defaults.spinMs,
  ) {
    Atomics.store(doorbells, slot, SLEEPING);
  }

  /**
   * Whether the bytes this thread has sent that the rings could not take yet went past
   * defaults.linkBacklogHigh (and have not fallen to linkBacklogLow since): the other threads
   * consume slower than this one produces. What reads from outside (a gate) stops reading
   * meanwhile (svc.watchBackedUp); otherwise those bytes would pile up here without bound.
   */
  get backedUp(): boolean {
    return this.congested;
  }

  /** Called with the new state each time backedUp changes. */
  onBackedUp: (backedUp: boolean) => void = () => undefined;

  private updateCongestion(): void {
    let bytes = 0;
    for (const peer of this.peers) if (peer !== undefined) bytes += peer.writer.pendingBytes;
    if (!this.congested && bytes > defaults.linkBacklogHigh) {
      this.congested = true;
      trace("slot %d: %d bytes wait for ring space: backed up", this.slot, bytes);
      this.onBackedUp(true);
    } else if (this.congested && bytes <= defaults.linkBacklogLow) {
      this.congested = false;
      trace("slot %d: rings drained to %d bytes", this.slot, bytes);
      this.onBackedUp(false);
    }
  }

  /** Whether messages for `slot` can be sent now, or held until its replacement's link arrives. */
  isUp(slot: number): boolean {
    return this.peers[slot] !== undefined || this.awaiting.has(slot);
  }

  slots(): number[] {
    return this.peers.flatMap((peer) => (peer ? [peer.slot] : []));
  }

  attach(slot: number, link: Link): void {
    this.detach(slot);
    const peer: Peer = { slot, port: link.port, writer: new RingWriter(link.out), reader: new RingReader(link.in) };
    this.peers[slot] = peer;
    if (this.outbound[slot]?.length) {
      this.dirty.push(slot);
      this.requestFlush();
    }
    link.port.on("message", (data: unknown) => (data === DOORBELL ? this.wake() : this.sink.control(data as Control)));
    trace("slot %d: linked to slot %d", this.slot, slot);
    if (peer.reader.readable) this.wake();
  }

  /** The new link to a replacement worker, sent ahead of the "replace" request that uses it. */
  offer(slot: number, link: Link): void {
    if (this.awaiting.delete(slot)) {
      this.attach(slot, link);
      return;
    }
    this.offered.get(slot)?.port.close();
    this.offered.set(slot, link);
  }

  /**
   * The worker at `slot` was replaced: drop the old link (and what was bound for it) and switch
   * to the new one, or hold messages for the slot until the new link arrives.
   */
  replace(slot: number): void {
    this.detach(slot);
    const link = this.offered.get(slot);
    if (link === undefined) {
      this.awaiting.add(slot);
      return;
    }
    this.offered.delete(slot);
    this.attach(slot, link);
    this.flush();
  }

  /** Forgets a slot (its worker is gone); what was waiting to be sent to it is dropped. */
  detach(slot: number): void {
    const peer = this.peers[slot];
    if (!peer) return;
    this.peers[slot] = undefined;
    const pending = this.outbound[slot];
    if (pending) pending.length = 0;
    peer.port.removeAllListeners("message");
    peer.port.close();
    // What was waiting for the lost thread's ring is gone with it.
    if (this.congested) this.updateCongestion();
  }

  enqueue(slot: number, dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void {
    let batch = this.outbound[slot];
    if (batch === undefined) batch = this.outbound[slot] = [];
    if (body instanceof Packed) {
      proto |= PACKED_FLAG;
      body = body.bytes;
    }
    if (batch.length === 0) {
      this.dirty.push(slot);
      this.requestFlush();
    }
    batch.push(dest, source, session, proto, cmd, body);
    // A long burst goes out in slices so the receiver starts on it while we keep sending.
    if (batch.length >= this.limit) this.send(slot, batch);
  }

  /** Writes every batch gathered during this turn. */
  flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) {
      const slot = dirty[i];
      const batch = this.outbound[slot];
      if (batch.length > 0) this.send(slot, batch);
    }
    dirty.length = 0;
    // Answers to what we just sent are likely: watch the rings for a while.
    this.lastTraffic = performance.now();
    this.schedulePoll();
  }

  /** Control messages bypass the rings: they carry ports, or must be seen even by a busy thread. */
  postControl(slot: number, message: Control, transfer: MessagePort[] = []): void {
    this.flush();
    this.peers[slot]?.port.postMessage(message, transfer);
  }

  close(): void {
    this.closed = true;
    for (const link of this.offered.values()) link.port.close();
    this.offered.clear();
    this.awaiting.clear();
    if (this.pollTimer) clearImmediate(this.pollTimer);
    this.pollTimer = undefined;
    for (const slot of this.slots()) this.detach(slot);
  }

  private send(slot: number, batch: unknown[]): void {
    const peer = this.peers[slot];
    if (!peer && this.awaiting.has(slot)) return; // kept until the link arrives
    const payload = peer ? packr.pack(batch) : undefined;
    batch.length = 0;
    if (!peer || !payload) return;
    if (peer.writer.write(payload)) this.ring(slot);
    if (peer.writer.pending) this.updateCongestion();
  }

  /** Wakes `slot` if it sleeps; only the writer that turns SLEEPING into RUNG posts. */
  private ring(slot: number): void {
    const bells = this.doorbells;
    if (Atomics.load(bells, slot) === SLEEPING && Atomics.compareExchange(bells, slot, SLEEPING, RUNG) === SLEEPING) {
      this.peers[slot]?.port.postMessage(DOORBELL);
    }
  }

  private wake(): void {
    Atomics.store(this.doorbells, this.slot, AWAKE);
    this.lastTraffic = performance.now();
    this.poll();
  }

  private schedulePoll(): void {
    if (this.pollTimer === undefined && !this.closed) {
      Atomics.store(this.doorbells, this.slot, AWAKE);
      this.pollTimer = setImmediate(this.poll);
    }
  }

  private readonly poll = (): void => {
    if (this.pollTimer) clearImmediate(this.pollTimer);
    this.pollTimer = undefined;
    if (this.closed) return;
    const delivered = this.readAll();
    let backlog = false;
    for (const peer of this.peers) {
      if (peer === undefined || !peer.writer.pending) continue;
      if (peer.writer.drain()) this.ring(peer.slot);
      backlog ||= peer.writer.pending;
    }
    if (this.congested) this.updateCongestion();
    const now = performance.now();
    if (delivered > 0) this.lastTraffic = now;
    if (delivered > 0 || backlog || now - this.lastTraffic < this.spinMs) {
      this.pollTimer = setImmediate(this.poll);
      return;
    }
    // Going to sleep: say so first, then look once more, so no write goes unnoticed.
    Atomics.store(this.doorbells, this.slot, SLEEPING);
    if (this.peers.some((peer) => peer?.reader.readable)) this.schedulePoll();
  };

  private readAll(): number {
    let count = 0;
    for (const peer of this.peers) if (peer !== undefined && peer.reader.readable) count += peer.reader.read(this.deliver);
    return count;
  }

  private readonly deliver = (payload: Uint8Array): void => {
    const flat = packr.unpack(payload) as unknown[];
    const sink = this.sink;
    for (let i = 0; i < flat.length; i += FIELDS) {
      let proto = flat[i + 3] as number;
      let body = flat[i + 5];
      if (proto & PACKED_FLAG) {
        proto &= ~PACKED_FLAG;
        body = new Packed(body as Uint8Array);
      }
      sink.receive(flat[i] as Handle, flat[i + 1] as Handle, flat[i + 2] as number, proto, flat[i + 4] as string, body);
    }
  };
}
