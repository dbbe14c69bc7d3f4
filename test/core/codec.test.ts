/**
 * The codec (sealing: a receiver never shares an object with its sender) and errors as they
 * cross: errorToWire/errorFromWire keep name, message, code, stack and cause; callError gives
 * weft's own refusals and the transparent codes their class back, anything else a RemoteError.
 */
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  EncodeError,
  NameTakenError,
  NoSuchChannelError,
  NoSuchServiceError,
  NoSuchSharedataError,
  NotRunningError,
  RemoteError,
  ServiceExitedError,
  ServiceStartError,
  UnknownCommandError,
  UnknownProtocolError,
  WeftError,
  WorkerLostError,
} from "weft";
import { callError, copyBytes, errorFromWire, errorToWire, open, Packed, sealArgs, sealValue, type PendingCall, type WireError } from "weft/internal";

describe("sealArgs", () => {
  it("passes an array of primitives as it is: nothing to encode, nothing to copy", () => {
    const args = [1, "two", null, undefined, true, 3n, -0];
    expect(sealArgs(args)).toBe(args);
  });

  it("copies bytes among primitives (a new array, new bytes), unless they are handed over", () => {
    const bytes = Uint8Array.of(1, 2, 3);
    const args = [1, bytes, "x"];
    const sealed = sealArgs(args) as unknown[];
    expect(sealed).not.toBe(args);
    expect(sealed[1]).not.toBe(bytes);
    expect([sealed[0], [...(sealed[1] as Uint8Array)], sealed[2]]).toEqual([1, [1, 2, 3], "x"]);
    bytes[0] = 9;
    expect((sealed[1] as Uint8Array)[0]).toBe(1);
    expect(args[1]).toBe(bytes); // the caller's array is left alone
    const handed = sealArgs(args, true) as unknown[];
    expect(handed).toBe(args);
    expect(handed[1]).toBe(bytes);
  });

  it("packs arguments with an object in them: later changes on either side are not seen by the other", () => {
    const box = { n: 1, list: [1], inner: { bytes: Uint8Array.of(7) } };
    const sealed = sealArgs([box, 2]);
    expect(sealed).toBeInstanceOf(Packed);
    box.n = 2;
    box.list.push(2);
    box.inner.bytes[0] = 0;
    const first = open(sealed) as [typeof box, number];
    expect(first).toEqual([{ n: 1, list: [1], inner: { bytes: Uint8Array.of(7) } }, 2]);
    first[0].n = 99;
    // Each open is a new copy: two receivers never share one either.
    expect((open(sealed) as [typeof box])[0].n).toBe(1);
  });

  it("refuses a function or a symbol, at the top or nested, with EncodeError (WEFT_ENCODE)", () => {
    expect(() => sealArgs([1, () => 1])).toThrow(EncodeError);
    expect(() => sealArgs([1, () => 1])).toThrow("argument 2 is a function, which cannot be sent to another service");
    expect(() => sealArgs([Symbol("s")], true)).toThrow(/argument 1 is a symbol/);
    let nested: unknown;
    try {
      sealArgs([{ callback: () => 1 }]);
    } catch (err) {
      nested = err;
    }
    expect(nested).toBeInstanceOf(EncodeError);
    expect(nested).toMatchObject({ code: "WEFT_ENCODE", message: expect.stringMatching(/cannot encode arguments: a function cannot be sent/), cause: expect.any(TypeError) });
  });
});

describe("sealValue and open", () => {
  it("primitives as they are, bytes copied, anything else packed; open passes what is not Packed through", () => {
    for (const v of [0, "s", null, undefined, false, 5n]) expect(sealValue(v)).toBe(v);
    const bytes = Uint8Array.of(1, 2);
    const copy = sealValue(bytes) as Uint8Array;
    expect(copy).not.toBe(bytes);
    expect(copy.buffer).not.toBe(bytes.buffer);
    expect([...copy]).toEqual([1, 2]);
    const obj = { a: [1, { b: 2 }] };
    const packed = sealValue(obj);
    expect(packed).toBeInstanceOf(Packed);
    obj.a.push(3);
    expect(open(packed)).toEqual({ a: [1, { b: 2 }] });
    expect(open(copy)).toBe(copy);
    expect(open(obj)).toBe(obj);
  });

  it("refuses functions and symbols with EncodeError", () => {
    expect(() => sealValue(() => 1)).toThrow(EncodeError);
    expect(() => sealValue(Symbol.iterator)).toThrow(/a symbol cannot be sent/);
    expect(() => sealValue({ deep: [{ fn() {} }] })).toThrow(EncodeError);
  });

  it("copyBytes makes a Buffer of its own", () => {
    const bytes = Uint8Array.of(4, 5, 6).subarray(1);
    const copy = copyBytes(bytes);
    expect(Buffer.isBuffer(copy)).toBe(true);
    expect([...copy]).toEqual([5, 6]);
    bytes[0] = 0;
    expect(copy[0]).toBe(5);
  });
});

describe("errors on the wire", () => {
  it("errorToWire keeps name, message, stack, a string code and the cause chain; errorFromWire rebuilds them", () => {
    const root = new TypeError("root");
    const middle = new RangeError("middle", { cause: root });
    (middle as { code?: string }).code = "E_MIDDLE";
    const top = new NoSuchServiceError("top", { cause: middle });
    const wire = errorToWire(top, true);
    expect(wire).toMatchObject({
      name: "NoSuchServiceError",
      message: "top",
      code: "WEFT_NO_SUCH_SERVICE",
      byRuntime: true,
      cause: { name: "RangeError", message: "middle", code: "E_MIDDLE", byRuntime: false, cause: { name: "TypeError", message: "root", code: undefined } },
    });
    expect(wire.stack).toBe(top.stack);
    // As it crosses: sealed, opened on the other side.
    const back = errorFromWire(open(sealValue(wire)) as WireError);
    expect(back).toBeInstanceOf(Error);
    expect(back).toMatchObject({ name: "NoSuchServiceError", message: "top", code: "WEFT_NO_SUCH_SERVICE", stack: top.stack });
    expect(back.cause).toMatchObject({ name: "RangeError", message: "middle", code: "E_MIDDLE", cause: { name: "TypeError", message: "root" } });
    expect((back.cause as Error).stack).toBe(middle.stack);
  });

  it("a thrown non-Error becomes an Error named Error with its text; a non-string code is not a code", () => {
    expect(errorToWire("just text")).toEqual({ name: "Error", message: "just text", byRuntime: false });
    expect(errorToWire(42, true)).toEqual({ name: "Error", message: "42", byRuntime: true });
    expect(errorToWire(undefined)).toMatchObject({ message: "undefined" });
    const odd = Object.assign(new Error("odd"), { code: 7 });
    expect(errorToWire(odd).code).toBeUndefined();
    expect(errorFromWire({ name: "X", message: "m" })).toMatchObject({ name: "X", message: "m" });
    expect("code" in errorFromWire({ name: "X", message: "m" })).toBe(false);
  });
});

describe("callError: the error a caller gets", () => {
  const call: PendingCall = { dest: 0x02000001, cmd: "get", resolve: () => undefined, reject: () => undefined };
  const wire = (code: string | undefined, byRuntime: boolean, extra: Partial<WireError> = {}): WireError => ({ name: "Whatever", message: "it failed", code, byRuntime, ...extra });

  it.each([
    ["WEFT_NO_SUCH_SERVICE", NoSuchServiceError],
    ["WEFT_SERVICE_EXITED", ServiceExitedError],
    ["WEFT_UNKNOWN_COMMAND", UnknownCommandError],
    ["WEFT_UNKNOWN_PROTOCOL", UnknownProtocolError],
    ["WEFT_WORKER_LOST", WorkerLostError],
    ["WEFT_START_FAILED", ServiceStartError],
    ["WEFT_ENCODE", EncodeError],
    ["WEFT_NOT_RUNNING", NotRunningError],
  ] as const)("weft's own refusal %s keeps its class and message", (code, Class) => {
    const err = callError(call, wire(code, true));
    expect(err).toBeInstanceOf(Class);
    expect(err).toMatchObject({ code, message: "it failed", name: Class.name });
  });

  it.each([
    ["WEFT_WORKER_LOST", WorkerLostError],
    ["WEFT_START_FAILED", ServiceStartError],
    ["WEFT_NAME_TAKEN", NameTakenError],
    ["WEFT_CONFIG", ConfigError],
    ["WEFT_NOT_RUNNING", NotRunningError],
    ["WEFT_NO_SUCH_CHANNEL", NoSuchChannelError],
    ["WEFT_NO_SUCH_SHAREDATA", NoSuchSharedataError],
  ] as const)("%s means the same however many services passed it on: it keeps its class even from a handler", (code, Class) => {
    expect(callError(call, wire(code, false))).toBeInstanceOf(Class);
  });

  it.each(["WEFT_NO_SUCH_SERVICE", "WEFT_SERVICE_EXITED", "WEFT_UNKNOWN_COMMAND", "WEFT_ENCODE", "WEFT_CALL_TIMEOUT", "E_MINE", undefined])(
    "a handler's error with code %s becomes a RemoteError naming the callee and the command, the original as its cause",
    (code) => {
      const err = callError(call, wire(code, false, { name: "OwnError", stack: "OwnError: it failed\n    at handler" }));
      expect(err).toBeInstanceOf(RemoteError);
      expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR", message: ':02000001 failed on "get": it failed' });
      expect(err.cause).toMatchObject({ name: "OwnError", message: "it failed", stack: "OwnError: it failed\n    at handler" });
      expect((err.cause as { code?: string }).code).toBe(code);
    },
  );

  it("a code weft does not know is a RemoteError even when marked as weft's own", () => {
    expect(callError(call, wire("WEFT_CALL_TIMEOUT", true))).toBeInstanceOf(RemoteError);
    expect(callError(call, wire("E_OTHER", true))).toBeInstanceOf(RemoteError);
  });

  it("a class that takes a cause keeps the wire's cause chain (a start failure says why)", () => {
    const err = callError(call, wire("WEFT_START_FAILED", false, { cause: { name: "TypeError", message: "bad arg", code: "E_ARG" } }));
    expect(err).toBeInstanceOf(ServiceStartError);
    expect(err.cause).toMatchObject({ name: "TypeError", message: "bad arg", code: "E_ARG" });
    expect(err).toBeInstanceOf(WeftError);
  });
});
