/**
 * Worker-to-worker messaging. Every pair of threads has its own MessageChannel, so a message
 * never hops through the main thread. Messages for one destination are gathered per turn of the
 * event loop into one flat array and posted as a single msgpack buffer (transferred, not
 * copied), which is what makes cross-worker traffic cheap.
 */
import createDebug from "debug";
import type { MessagePort } from "node:worker_threads";
import { packr } from "./codec.js";
import { defaults } from "./defaults.js";
import type { Handle } from "./handle.js";
import { FIELDS, PACKED_FLAG, Packed, type Control } from "./protocol.js";

const trace = createDebug("weft:transport");

export interface TransportSink {
  receive(dest: Handle, source: Handle, session: number, proto: number, cmd: string, body: unknown): void;
  control(message: Control): void;
  /** Called once per batch that arrived, after its messages were received: a macrotask boundary. */
  received(): void;
}

export class Transport {
  private readonly ports: (MessagePort | undefined)[] = [];
  private readonly outbound: unknown[][] = [];
  private readonly dirty: number[] = [];
  private readonly limit = defaults.transportBatch * FIELDS;

  constructor(
    readonly slot: number,
    private readonly sink: TransportSink,
    /** Asks for a flush at the end of this turn. */
    private readonly requestFlush: () => void,
  ) {}

  isUp(slot: number): boolean {
    return this.ports[slot] !== undefined;
  }

  slots(): number[] {
    const out: number[] = [];
    this.ports.forEach((port, slot) => port && out.push(slot));
    return out;
  }

  attach(slot: number, port: MessagePort): void {
    this.detach(slot);
    this.ports[slot] = port;
    port.on("message", (data: unknown) => this.onMessage(data));
    trace("slot %d: attached to slot %d", this.slot, slot);
  }

  /** Forgets a slot; whatever was waiting to be posted to it is dropped (its worker is gone). */
  detach(slot: number): void {
    const port = this.ports[slot];
    if (!port) return;
    this.ports[slot] = undefined;
    const pending = this.outbound[slot];
    if (pending) pending.length = 0;
    port.removeAllListeners("message");
    port.close();
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
    // A long burst is posted in slices so the receiver starts on it while we keep sending.
    if (batch.length >= this.limit) this.post(slot, batch);
  }

  /** Posts every batch gathered during this turn. */
  flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) {
      const slot = dirty[i];
      const batch = this.outbound[slot];
      if (batch.length > 0) this.post(slot, batch);
    }
    dirty.length = 0;
  }

  /** Control messages bypass batching: they carry ports, or must arrive before what follows. */
  postControl(slot: number, message: Control, transfer: MessagePort[] = []): void {
    this.flush();
    this.ports[slot]?.postMessage(message, transfer);
  }

  close(): void {
    for (const slot of this.slots()) this.detach(slot);
  }

  private post(slot: number, batch: unknown[]): void {
    const port = this.ports[slot];
    const packed = port ? packr.pack(batch) : undefined;
    batch.length = 0;
    if (!port || !packed) return;
    // packr reuses its output buffer, so the batch gets a buffer of its own, which is then
    // transferred rather than cloned.
    const bytes = new Uint8Array(packed.length);
    bytes.set(packed);
    port.postMessage(bytes, [bytes.buffer]);
  }

  private onMessage(data: unknown): void {
    if (!(data instanceof Uint8Array)) {
      this.sink.control(data as Control);
      return;
    }
    const flat = packr.unpack(data) as unknown[];
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
    sink.received();
  }
}
