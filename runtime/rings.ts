/**
 * Worker-to-worker messaging. Every pair of threads has its own link: a shared-memory ring in
 * each direction for messages, and a MessagePort for control and for waking a thread that
 * sleeps. Each message is one record (record.ts) written straight into the ring and published
 * at once; the reader decodes it where it lies. Nothing hops through the main thread.
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
import { defaults } from "./defaults.js";
import type { Handle } from "./handle.js";
import type { Control } from "./protocol.js";
import { encodable, readRecord, recordBound, recordBytes, writeRecord, type RecordSink } from "./record.js";
import { RingReader, RingWriter } from "./ring.js";
import type { Routes, Transport, TransportSink } from "./transport.js";

const trace = createDebug("weft:rings");

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

/** The transport to one other thread: its ring. */
class RingLink implements Transport {
  readonly writer: RingWriter;
  readonly reader: RingReader;

  constructor(
    private readonly rings: Rings,
    readonly slot: number,
    readonly port: MessagePort,
    link: Link,
  ) {
    this.writer = new RingWriter(link.out);
    this.reader = new RingReader(link.in);
  }

  post(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void {
    const sealed = encodable(body);
    const writer = this.writer;
    const at = writer.reserve(recordBound(cmd, sealed));
    if (at >= 0) {
      writer.commit(writeRecord(writer.bytes, writer.view, at, dest, source, session, proto, cmd, sealed));
      // Published when the scheduler's tick ends, all at once (the reader then sees everything a
      // handler sent together), or sooner in a long burst, so the reader starts on it meanwhile.
      if (++this.unpublished >= defaults.transportBatch) this.publish();
      if (!this.awaitingFlush) {
        this.awaitingFlush = true;
        this.rings.dirty(this);
      }
      return;
    }
    // The ring is full (or a backlog waits): the record waits in a buffer of its own, in order.
    this.queue(recordBytes(dest, source, session, proto, cmd, sealed));
  }

  /** Records written and not yet visible to the reader. */
  unpublished = 0;
  /** In the list the end of this turn's tick publishes. */
  awaitingFlush = false;

  publish(): void {
    this.unpublished = 0;
    this.writer.publish();
    this.rings.ring(this.slot);
  }

  /** A whole record that waits for room (or was held for this link before it came); publishes what was written before it. */
  queue(record: Uint8Array): void {
    this.unpublished = 0;
    if (this.writer.write(record)) this.rings.ring(this.slot);
    this.rings.updateCongestion();
  }
}

/** Messages for a replaced worker whose new link has not come yet: kept, in order, until it does. */
class HeldLink implements Transport {
  readonly records: Uint8Array[] = [];

  post(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void {
    this.records.push(recordBytes(dest, source, session, proto, cmd, encodable(body)));
  }
}

export class Rings {
  private readonly links: (RingLink | undefined)[] = [];
  /** Links to replacement workers that came before the "replace" request. */
  private readonly offered = new Map<number, Link>();
  /** Replaced slots whose new link has not come yet. */
  private readonly held = new Map<number, HeldLink>();
  private pollTimer: NodeJS.Immediate | undefined;
  /** Links with records not yet published: flush publishes them. */
  private readonly dirtyLinks: RingLink[] = [];
  /** Past the high-water mark of bytes waiting for room in the rings, and not yet back under the low one. */
  private congested = false;
  private lastTraffic = 0;
  private closed = false;
  private readonly deliverRecord: RecordSink;

  constructor(
    readonly slot: number,
    private readonly sink: TransportSink,
    private readonly routes: Routes,
    /** Asks for a flush at the end of this turn. */
    private readonly requestFlush: () => void,
    /** One Int32 per slot in shared memory: AWAKE, SLEEPING or RUNG. */
    private readonly doorbells: Int32Array,
    /** Polling time after the last traffic (config `spin`). */
    private readonly spinMs: number = defaults.spinMs,
  ) {
    Atomics.store(doorbells, slot, SLEEPING);
    this.deliverRecord = (dest, source, session, proto, cmd, body) => sink.receive(dest, source, session, proto, cmd, body);
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

  updateCongestion(): void {
    let bytes = 0;
    for (const link of this.links) if (link !== undefined) bytes += link.writer.pendingBytes;
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

  slots(): number[] {
    return this.links.flatMap((link) => (link ? [link.slot] : []));
  }

  attach(slot: number, link: Link): void {
    this.detach(slot);
    const ring = new RingLink(this, slot, link.port, link);
    this.links[slot] = ring;
    this.routes.set(slot, ring);
    const held = this.held.get(slot);
    this.held.delete(slot);
    for (const record of held?.records ?? []) ring.queue(record);
    link.port.on("message", (data: unknown) => (data === DOORBELL ? this.wake() : this.sink.control(data as Control)));
    trace("slot %d: linked to slot %d", this.slot, slot);
    // A doorbell this thread rang on the old link of a replaced worker went to a dead port, and
    // left the replacement's bell RUNG, which no later writer posts past: ring it again here.
    if (Atomics.load(this.doorbells, slot) === RUNG) link.port.postMessage(DOORBELL);
    if (ring.reader.readable) this.wake();
  }

  /** The new link to a replacement worker, sent ahead of the "replace" request that uses it. */
  offer(slot: number, link: Link): void {
    if (this.held.has(slot)) {
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
      const held = new HeldLink();
      this.held.set(slot, held);
      this.routes.set(slot, held);
      return;
    }
    this.offered.delete(slot);
    this.attach(slot, link);
  }

  /** Forgets a slot (its worker is gone); what was waiting to be sent to it is dropped. */
  detach(slot: number): void {
    const link = this.links[slot];
    if (!link) return;
    this.links[slot] = undefined;
    this.routes.delete(slot, link);
    link.port.removeAllListeners("message");
    link.port.close();
    // What was waiting for the lost thread's ring is gone with it.
    if (this.congested) this.updateCongestion();
  }

  /** `link` has its first record of this turn. */
  dirty(link: RingLink): void {
    if (this.dirtyLinks.push(link) === 1) this.requestFlush();
  }

  /** End of a scheduler tick: publishes what was written; answers are likely, so the rings are watched a while. */
  flush(): void {
    const dirty = this.dirtyLinks;
    if (dirty.length === 0) return;
    for (const link of dirty) {
      link.awaitingFlush = false;
      if (link.unpublished > 0 && this.links[link.slot] === link) link.publish();
    }
    dirty.length = 0;
    this.lastTraffic = performance.now();
    this.schedulePoll();
  }

  /** Control messages bypass the rings: they carry ports, or must be seen even by a busy thread. */
  postControl(slot: number, message: Control, transfer: MessagePort[] = []): void {
    this.flush();
    this.links[slot]?.port.postMessage(message, transfer);
  }

  close(): void {
    this.closed = true;
    for (const link of this.offered.values()) link.port.close();
    this.offered.clear();
    for (const slot of this.held.keys()) this.routes.delete(slot);
    this.held.clear();
    if (this.pollTimer) clearImmediate(this.pollTimer);
    this.pollTimer = undefined;
    for (const slot of this.slots()) this.detach(slot);
  }

  /** Wakes `slot` if it sleeps; only the writer that turns SLEEPING into RUNG posts. */
  ring(slot: number): void {
    const bells = this.doorbells;
    if (Atomics.load(bells, slot) === SLEEPING && Atomics.compareExchange(bells, slot, SLEEPING, RUNG) === SLEEPING) {
      this.links[slot]?.port.postMessage(DOORBELL);
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
    for (const link of this.links) {
      if (link === undefined || !link.writer.pending) continue;
      if (link.writer.drain()) this.ring(link.slot);
      backlog ||= link.writer.pending;
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
    if (this.links.some((link) => link?.reader.readable)) this.schedulePoll();
  };

  private readAll(): number {
    let count = 0;
    for (const link of this.links) if (link !== undefined && link.reader.readable) count += link.reader.readFrames(this.deliverFrame);
    return count;
  }

  private readonly deliverFrame = (bytes: Buffer, view: DataView, at: number, length: number): void => {
    try {
      readRecord(bytes, view, at, length, this.deliverRecord);
    } catch (err) {
      // A record that does not decode is a bug, not input: say so, and go on with the next.
      process.stderr.write(`weft: slot ${this.slot} dropped a message it could not read: ${(err as Error).stack ?? String(err)}\n`);
    }
  };
}
