/**
 * Encoding of message bodies. Isolation is the rule: a receiver never shares an object with its
 * sender. Primitives are immutable and go as they are; anything else is encoded with msgpackr
 * when it is sent. Records are off because structures would have to be shared by every thread.
 */
// Imported, not the global: in Node 20 the global `Buffer` is a getter, a call on every use.
import { Buffer } from "node:buffer";
import { Packr } from "msgpackr";
import { EncodeError } from "./errors.js";
import { Packed, type WireError } from "./protocol.js";

export const packr = new Packr({
  useRecords: false,
  moreTypes: true,
  // msgpackr would quietly turn a function into undefined; a lost callback is a bug to report.
  writeFunction: () => {
    throw new TypeError("a function cannot be sent to another service");
  },
});

const isPrimitive = (value: unknown): boolean => {
  const type = typeof value;
  return value === null || (type !== "object" && type !== "function" && type !== "symbol");
};

function unsendable(value: unknown): boolean {
  const type = typeof value;
  return type === "function" || type === "symbol";
}

function pack(value: unknown, what: string): Packed {
  try {
    return new Packed(packr.pack(value));
  } catch (err) {
    throw new EncodeError(`cannot encode ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Command arguments: the array itself when every argument is a primitive; primitives and
 * bytes (the bytes copied, which is cheaper than encoding them, unless they are handed over);
 * else a Packed copy.
 */
export function sealArgs(args: unknown[], handOver = false): unknown[] | Packed {
  let copied: unknown[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (isPrimitive(arg)) continue;
    if (unsendable(arg)) throw new EncodeError(`argument ${i + 1} is a ${typeof arg}, which cannot be sent to another service`);
    if (!(arg instanceof Uint8Array)) return pack(args, "arguments");
    if (handOver) continue;
    copied ??= args.slice();
    copied[i] = copyBytes(arg);
  }
  return copied ?? args;
}

/** A single payload or result: primitives as they are, bytes copied, anything else packed. */
export function sealValue(value: unknown): unknown {
  if (isPrimitive(value)) return value;
  if (unsendable(value)) throw new EncodeError(`a ${typeof value} cannot be sent to another service`);
  if (value instanceof Uint8Array) return copyBytes(value);
  return pack(value, "value");
}

/** A copy of `bytes`; a small one is carved from Node's pool, far cheaper than a fresh ArrayBuffer. */
export function copyBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  copy.set(bytes);
  return copy;
}

/** The receiving side of seal*: decodes a Packed body, passes anything else through. */
export function open(body: unknown): unknown {
  return body instanceof Packed ? packr.unpack(body.bytes) : body;
}

/** `byRuntime` marks weft's own refusals (no such service, unknown command...), which keep their class. */
export function errorToWire(err: unknown, byRuntime = false): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? errorToWire(err.cause) : undefined;
    return { name: err.name, message: err.message, stack: err.stack, code: typeof code === "string" ? code : undefined, byRuntime, cause };
  }
  return { name: "Error", message: String(err), byRuntime };
}

/** The error the remote side threw, rebuilt with its own name, message and stack. */
export function errorFromWire(wire: WireError): Error {
  const err = new Error(wire.message);
  err.name = wire.name;
  if (wire.stack) err.stack = wire.stack;
  if (wire.code) (err as { code?: string }).code = wire.code;
  if (wire.cause) err.cause = errorFromWire(wire.cause);
  return err;
}
