/**
 * Every shape that travels between services and threads, in one place.
 *
 * Protocol ids follow skynet's PTYPE_* numbers so skynet users can read a trace. Ids 13..254 are
 * free for protocols registered by services; LOCAL never leaves its thread.
 */
import type { Handle } from "./handle.js";

export const PROTO = Object.freeze({
  text: 0,
  response: 1,
  multicast: 2,
  client: 3,
  system: 4,
  error: 7,
  debug: 9,
  lua: 10,
  /** A callback the service queued for itself (timer, fork, wakeup, yield): never crosses threads. */
  local: 255,
});

export const builtinProtocolNames: Record<string, number> = {
  text: PROTO.text,
  response: PROTO.response,
  multicast: PROTO.multicast,
  client: PROTO.client,
  system: PROTO.system,
  error: PROTO.error,
  debug: PROTO.debug,
  lua: PROTO.lua,
  command: PROTO.lua,
};

const protocolNames = new Map(Object.entries(builtinProtocolNames).map(([name, id]) => [id, name]));

/** How errors name a message without a command: "a system message", "protocol 42". */
export function protocolLabel(id: number): string {
  const name = protocolNames.get(id);
  return name === undefined ? `protocol ${id}` : `a ${name} message`;
}

/**
 * A body that was encoded when it was sent, so the receiver never sees the sender's later
 * mutations. Bodies made only of primitives travel as they are.
 */
export class Packed {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * One message in a mailbox, and the context of its dispatch. For `lua` (the command protocol)
 * `cmd` is the command and `body` its arguments. `session` > 0: a call, answered once; 0: a
 * send; < 0: a send carrying a tag, -session (a connection id on the client protocol).
 */
export interface Envelope {
  source: Handle;
  session: number;
  proto: number;
  cmd: string;
  body: unknown;
  /** The call has been answered: nothing else may answer it. */
  answered: boolean;
  /** The handler took over the answer (svc.response()): its return value is not the answer. */
  deferred: boolean;
}

/** A new envelope, every field set so all envelopes share one shape. */
export function envelope(source: Handle, session: number, proto: number, cmd: string, body: unknown): Envelope {
  return { source, session, proto, cmd, body, answered: false, deferred: false };
}

/** An error as it crosses threads: the class is rebuilt on the caller's side from `code`. */
export interface WireError {
  code?: string;
  name: string;
  message: string;
  stack?: string;
  /** Raised by weft itself rather than by the handler, so the caller sees its own class. */
  byRuntime?: boolean;
  cause?: WireError;
}

/** Messages to a host's system endpoint (handle `slot << 24`). Slot 0's endpoint is the kernel. */
export type SystemRequest =
  | { op: "launch"; name: string; args: unknown[]; from: Handle; restarts?: number; memo?: Record<string, unknown> }
  /** At the target's thread: tell `watcher` when the target's load crosses `mark` (svc.watchMailbox). */
  | { op: "watch"; target: Handle; watcher: Handle; mark: number }
  | { op: "unwatch"; target: Handle; watcher: Handle }
  /** At the watcher's thread: the target's load crossed the mark (or the target is gone). */
  | { op: "load"; watcher: Handle; target: Handle; full: boolean; gone?: boolean }
  /** At the watcher's thread, from the launcher: a monitored service exited or was lost. */
  | { op: "down"; watcher: Handle; target: Handle; reason: string }
  /** From the launcher to the kernel: supervision gave up; the node stops with exit code 1. */
  | { op: "fatal"; reason: string }
  | { op: "kill"; handle: Handle; reason?: string }
  | { op: "list" }
  | { op: "mem" }
  | { op: "offload"; filename: string; name?: string; input: unknown }
  | { op: "gc" }
  | { op: "stat"; handle: Handle }
  | { op: "ready"; slot: number; threadId: number }
  | { op: "register"; name: string; handle: Handle }
  | { op: "unregister"; handle: Handle; names: string[] }
  | { op: "queryName"; name: string }
  | { op: "names"; set?: Record<string, Handle>; drop?: string[] }
  | { op: "setenv"; key: string; value: unknown }
  | { op: "env"; key: string; value: unknown }
  | { op: "log"; text: string }
  | { op: "replace"; slot: number; reason: string }
  | { op: "shutdown"; keep: Handle[] };

/** Control messages posted outside batches, because they carry MessagePorts or must not wait for a turn. */
export type Control =
  /** The new link to a replacement worker; used once the "replace" request arrives. */
  | { control: "link"; slot: number; link: unknown }
  | { control: "shutdown" };
