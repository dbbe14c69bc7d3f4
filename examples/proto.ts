/**
 * The example's client protocol (DESIGN.md): each netpack packet carries one msgpack array.
 * A request is `[session, name, args]` (session >= 1); the answer `[session, result]` or
 * `[session, null, "error text"]`; a push from the server `[0, name, data]`.
 */
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false });

export type Request = [session: number, name: string, args: unknown];
export type Reply = [session: number, result: unknown, error?: string];
export type Push = [0, name: string, data: unknown];

export const encode = (message: Request | Reply | Push): Buffer => packr.pack(message);

export function decode(bytes: Uint8Array): unknown[] {
  const message = packr.unpack(bytes) as unknown;
  if (!Array.isArray(message) || typeof message[0] !== "number") throw new TypeError("not a [session, ...] array");
  return message;
}
