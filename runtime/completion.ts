/**
 * The one place that decides what a message gets once its handling ends, however it ends:
 * the handler returned (now or later), threw (now or later), or weft refused the message (no
 * such command, the service exited). A call is answered exactly once, with a value or an
 * error; a send's error is logged, since no one waits for it; a service's own callbacks
 * (timers, forks) log their errors where they run.
 */
import { formatHandle } from "./handle.js";
import { protocolLabel, PROTO, type Envelope } from "./protocol.js";

export enum Ending {
  /** The handler returned this value (or its promise resolved with it). */
  Returned,
  /** The handler threw this (or its promise rejected with it). */
  Threw,
  /** weft refused the message with this WeftError: the caller sees the error as it is. */
  Refused,
}

/** What completion needs of the service that handled the message. */
export interface Completer {
  readonly alive: boolean;
  readonly handle: number;
  /** Calls accepted and not answered yet (async handlers, deferred responses). */
  readonly inflight: Set<Envelope>;
  /** Posts the answer to a call. */
  reply(envelope: Envelope, ok: boolean, value: unknown, byRuntime: boolean): void;
  log(text: string): void;
  logError(what: string, err: unknown): void;
}

/**
 * Whether the sender waits for an answer. A negative session is a tag riding on a one-way
 * message (a connection id on the client protocol): never answered.
 */
export function expectsAnswer(envelope: Envelope): boolean {
  return envelope.session > 0 && envelope.proto !== PROTO.local;
}

/** Ends the handling of `envelope`. Returns false when it was a call already answered. */
export function complete(service: Completer, envelope: Envelope, ending: Ending, value: unknown): boolean {
  if (envelope.proto === PROTO.local) return false;
  if (!expectsAnswer(envelope)) {
    if (!service.alive) return false;
    if (ending === Ending.Threw) service.logError(envelope.cmd ? `"${envelope.cmd}"` : protocolLabel(envelope.proto), value);
    else if (ending === Ending.Refused) service.log(`dropped a message from ${formatHandle(envelope.source)}: ${(value as Error).message}`);
    return true;
  }
  if (envelope.answered) {
    if (ending === Ending.Threw && service.alive) service.logError(`"${envelope.cmd}" after its call was answered`, value);
    return false;
  }
  envelope.answered = true;
  // Most calls are answered as their handler returns, never having been in flight.
  if (service.inflight.size !== 0) service.inflight.delete(envelope);
  service.reply(envelope, ending === Ending.Returned, value, ending === Ending.Refused);
  return true;
}
