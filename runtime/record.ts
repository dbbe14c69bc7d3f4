/**
 * The one binary format a message has between threads: a fixed header, the command, then the
 * sealed body, written once straight into the ring (or, when the ring is full, into a buffer
 * of its own that waits in the writer's backlog). The reader decodes it where it lies and
 * copies only what must outlive the frame: the bytes of a bytes body.
 *
 *   offset  size  field
 *        0     4  destination handle (u32)
 *        4     4  source handle (u32)
 *        8     4  session (i32: > 0 a call, 0 a send, < 0 a send carrying a tag)
 *       12     1  protocol (0..255)
 *       13     1  body kind (below)
 *       14     2  command length in bytes (u16, UTF-8)
 *       16     4  body length in bytes (u32)
 *       20     …  the command, then the body
 *
 * Little-endian throughout. A record is one ring frame; the ring's own 4-byte length word
 * comes before it (ring.ts). Body kinds: NONE (undefined), BYTES (raw; a Buffer on arrival),
 * VALUE (one primitive item), LIST (u32 count, then items: command arguments made of
 * primitives and bytes), MSGPACK (codec.ts's options: a Packed body's bytes as they are,
 * any other value encoded as the record is written). Items are described at Tag.
 */
import { Buffer } from "node:buffer";
import { Unpackr } from "msgpackr";
import { packr } from "./codec.js";
import { EncodeError, RecordError } from "./errors.js";
import { Packed } from "./protocol.js";

/** Buffer's own UTF-8 methods: no encoding-name dispatch (Node has them; its types do not say so). */
type NativeBuffer = Buffer & { utf8Write(text: string, at: number): number; utf8Slice(start: number, end: number): string };

export const RECORD_HEADER = 20;
const MAX_CMD = 0xffff;

export enum BodyKind {
  None = 0,
  Msgpack = 1,
  Bytes = 2,
  /** A single primitive, as one item (below). */
  Value = 3,
  /** An array of primitives and byte arrays (command arguments): u32 count, then the items. */
  List = 4,
}

/**
 * An item of a Value or List body: a tag byte, then its data. Numbers, strings, booleans,
 * null, undefined and bytes are what command arguments mostly are; writing them straight
 * into the ring costs a few stores where msgpack would cost an encoder's pass and a copy.
 */
const enum Tag {
  Undefined = 0,
  Null = 1,
  True = 2,
  False = 3,
  /** f64, little-endian. */
  Number = 4,
  /** u32 byte length, then UTF-8. */
  String = 5,
  /** u32 length, then the bytes (a Buffer on arrival). */
  Bytes = 6,
}

/**
 * Decodes in place from shared memory: a decoded Uint8Array must be a copy, not a view of the
 * ring, which the writer reuses as soon as the frame is read.
 */
const unpackr = new Unpackr({ useRecords: false, moreTypes: true, copyBuffers: true });

/** Where a record goes: the handler of each decoded message. */
export type RecordSink = (dest: number, source: number, session: number, proto: number, cmd: string, body: unknown) => void;

/**
 * The body as it will be written: the body itself when it is written as it is (undefined,
 * bytes, a primitive, an array of those), else a Packed (msgpack). Bodies are sealed already
 * (codec.ts); this only picks the encoding, and encodes what only msgpack can carry.
 */
export function encodable(body: unknown): unknown {
  if (body === undefined || body instanceof Packed || body instanceof Uint8Array || isItem(body)) return body;
  if (Array.isArray(body) && body.every(isListItem)) return body;
  return new Packed(packr.pack(body));
}

function isItem(value: unknown): boolean {
  const type = typeof value;
  return value === null || type === "number" || type === "string" || type === "boolean" || type === "undefined";
}

const isListItem = (value: unknown): boolean => isItem(value) || value instanceof Uint8Array;

/** The most bytes a record of this command and (encodable) body can take. */
export function recordBound(cmd: string, body: unknown): number {
  return RECORD_HEADER + cmd.length * 3 + bodyBound(body);
}

function bodyBound(body: unknown): number {
  if (body === undefined) return 0;
  if (body instanceof Packed) return body.bytes.length;
  if (body instanceof Uint8Array) return body.length;
  if (!Array.isArray(body)) return itemBound(body);
  let n = 4;
  for (let i = 0; i < body.length; i++) n += itemBound(body[i]);
  return n;
}

function itemBound(item: unknown): number {
  if (typeof item === "string") return 5 + item.length * 3;
  if (item instanceof Uint8Array) return 5 + item.length;
  return 9;
}

/**
 * Writes a record at `at` in `target` (at least recordBound bytes there) and returns its
 * length. `view` is a DataView over the same memory as `target`, at the same offset.
 */
export function writeRecord(target: Buffer, view: DataView, at: number, dest: number, source: number, session: number, proto: number, cmd: string, body: unknown): number {
  const cmdLength = cmd.length === 0 ? 0 : writeString(target, at + RECORD_HEADER, cmd);
  if (cmdLength > MAX_CMD) throw new EncodeError(`a command name is ${cmdLength} bytes; at most ${MAX_CMD} go in a record`);
  const bodyAt = at + RECORD_HEADER + cmdLength;
  let kind: BodyKind;
  let end = bodyAt;
  if (body === undefined) kind = BodyKind.None;
  else if (body instanceof Packed) {
    kind = BodyKind.Msgpack;
    target.set(body.bytes, bodyAt);
    end += body.bytes.length;
  } else if (body instanceof Uint8Array) {
    kind = BodyKind.Bytes;
    target.set(body, bodyAt);
    end += body.length;
  } else if (Array.isArray(body)) {
    kind = BodyKind.List;
    view.setUint32(bodyAt, body.length, true);
    end += 4;
    for (let i = 0; i < body.length; i++) end = writeItem(target, view, end, body[i]);
  } else {
    kind = BodyKind.Value;
    end = writeItem(target, view, end, body);
  }
  view.setUint32(at, dest, true);
  view.setUint32(at + 4, source, true);
  view.setInt32(at + 8, session, true);
  view.setUint8(at + 12, proto);
  view.setUint8(at + 13, kind);
  view.setUint16(at + 14, cmdLength, true);
  view.setUint32(at + 16, end - bodyAt, true);
  return end - at;
}

function writeItem(target: Buffer, view: DataView, at: number, item: unknown): number {
  switch (typeof item) {
    case "number":
      view.setUint8(at, Tag.Number);
      view.setFloat64(at + 1, item, true);
      return at + 9;
    case "string": {
      view.setUint8(at, Tag.String);
      const length = writeString(target, at + 5, item);
      view.setUint32(at + 1, length, true);
      return at + 5 + length;
    }
    case "boolean":
      view.setUint8(at, item ? Tag.True : Tag.False);
      return at + 1;
    case "undefined":
      view.setUint8(at, Tag.Undefined);
      return at + 1;
  }
  if (item === null) {
    view.setUint8(at, Tag.Null);
    return at + 1;
  }
  const bytes = item as Uint8Array;
  view.setUint8(at, Tag.Bytes);
  view.setUint32(at + 1, bytes.length, true);
  target.set(bytes, at + 5);
  return at + 5 + bytes.length;
}

/** UTF-8 at `at`; returns its length. Short ASCII (command names, most strings) without a native call. */
function writeString(target: Buffer, at: number, text: string): number {
  const length = text.length;
  if (length <= 32) {
    let i = 0;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) break;
      target[at + i] = code;
    }
    if (i === length) return length;
  }
  return (target as NativeBuffer).utf8Write(text, at);
}

/** A record in a buffer of its own (for a writer's backlog, or a link that is not there yet). */
export function recordBytes(dest: number, source: number, session: number, proto: number, cmd: string, body: unknown): Buffer {
  const scratch = Buffer.allocUnsafe(recordBound(cmd, body));
  const length = writeRecord(scratch, new DataView(scratch.buffer, scratch.byteOffset, scratch.length), 0, dest, source, session, proto, cmd, body);
  return scratch.subarray(0, length);
}

/** Decodes the record of `length` bytes at `at` and hands it to `sink`. */
export function readRecord(source: Buffer, view: DataView, at: number, length: number, sink: RecordSink): void {
  if (length < RECORD_HEADER) throw new RecordError(`a record of ${length} bytes is shorter than its ${RECORD_HEADER}-byte header`);
  const cmdLength = view.getUint16(at + 14, true);
  const bodyLength = view.getUint32(at + 16, true);
  if (RECORD_HEADER + cmdLength + bodyLength !== length) {
    throw new RecordError(`a record of ${length} bytes says its command and body take ${cmdLength} + ${bodyLength}`);
  }
  const cmdAt = at + RECORD_HEADER;
  const bodyAt = cmdAt + cmdLength;
  const end = bodyAt + bodyLength;
  const cmd = cmdLength === 0 ? "" : readString(source, cmdAt, cmdLength);
  let body: unknown;
  const kind = view.getUint8(at + 13);
  switch (kind) {
    case BodyKind.None:
      body = undefined;
      break;
    case BodyKind.Msgpack:
      body = unpackMsgpack(source, bodyAt, end);
      break;
    case BodyKind.Bytes:
      body = copyOut(source, bodyAt, bodyLength);
      break;
    case BodyKind.Value:
      body = readItem(source, view, bodyAt, end);
      if (itemEnd !== end) throw new RecordError(`a value body of ${bodyLength} bytes holds an item of ${itemEnd - bodyAt}`);
      break;
    case BodyKind.List: {
      const count = view.getUint32(bodyAt, true);
      const list = new Array<unknown>(count);
      let p = bodyAt + 4;
      for (let i = 0; i < count; i++) {
        list[i] = readItem(source, view, p, end);
        p = itemEnd;
      }
      if (p !== end) throw new RecordError(`a list body ends at ${p - bodyAt} of its ${bodyLength} bytes`);
      body = list;
      break;
    }
    default:
      throw new RecordError(`a record has body kind ${kind}, which is none of NONE, MSGPACK, BYTES, VALUE, LIST`);
  }
  sink(view.getUint32(at, true), view.getUint32(at + 4, true), view.getInt32(at + 8, true), view.getUint8(at + 12), cmd, body);
}

/** Where the last item read ended (readItem returns the value; this saves an object per item). */
let itemEnd = 0;

function readItem(source: Buffer, view: DataView, at: number, end: number): unknown {
  const tag = at < end ? view.getUint8(at) : -1;
  // The fixed part of an item must be inside the record; a string's or bytes' data is checked below.
  if (tag < 0 || at + (tag === Tag.Number ? 9 : tag === Tag.String || tag === Tag.Bytes ? 5 : 1) > end) {
    throw new RecordError("a body item runs past the end of its record");
  }
  switch (tag) {
    case Tag.Undefined:
      itemEnd = at + 1;
      return undefined;
    case Tag.Null:
      itemEnd = at + 1;
      return null;
    case Tag.True:
      itemEnd = at + 1;
      return true;
    case Tag.False:
      itemEnd = at + 1;
      return false;
    case Tag.Number:
      itemEnd = at + 9;
      return view.getFloat64(at + 1, true);
    case Tag.String: {
      const length = view.getUint32(at + 1, true);
      itemEnd = at + 5 + length;
      if (itemEnd > end) break;
      return readString(source, at + 5, length);
    }
    case Tag.Bytes: {
      const length = view.getUint32(at + 1, true);
      itemEnd = at + 5 + length;
      if (itemEnd > end) break;
      return copyOut(source, at + 5, length);
    }
  }
  throw new RecordError(`a body item at ${at} has tag ${view.getUint8(at)} or runs past the end of its record`);
}

function unpackMsgpack(source: Buffer, at: number, end: number): unknown {
  try {
    // The whole buffer with bounds: msgpackr keeps one DataView per buffer, not one per message.
    return unpackr.unpack(source, { start: at, end });
  } catch (err) {
    throw new RecordError(`a msgpack body of ${end - at} bytes does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/** What must outlive the frame: a copy of its own (small ones carved from Node's pool). */
function copyOut(source: Buffer, at: number, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length);
  source.copy(copy, 0, at, at + length);
  return copy;
}

/** UTF-8 from `at`; short ASCII decoded here, which is cheaper than the native call. */
function readString(source: Buffer, at: number, length: number): string {
  if (length <= 16) {
    let text = "";
    for (let i = 0; i < length; i++) {
      const byte = source[at + i];
      if (byte > 0x7f) return (source as NativeBuffer).utf8Slice(at, at + length);
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return (source as NativeBuffer).utf8Slice(at, at + length);
}
