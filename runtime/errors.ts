/**
 * Every error weft raises has a stable `code`, names the service (`:0000000a`) and the command
 * it concerns, and keeps what happened on the other side in `cause`.
 */
export type WeftErrorCode =
  | "WEFT_NO_SUCH_SERVICE"
  | "WEFT_SERVICE_EXITED"
  | "WEFT_CALL_TIMEOUT"
  | "WEFT_REMOTE_ERROR"
  | "WEFT_UNKNOWN_COMMAND"
  | "WEFT_UNKNOWN_PROTOCOL"
  | "WEFT_WORKER_LOST"
  | "WEFT_START_FAILED"
  | "WEFT_NAME_TAKEN"
  | "WEFT_ENCODE"
  | "WEFT_CONFIG"
  | "WEFT_NOT_RUNNING"
  | "WEFT_PACKET_TOO_LARGE"
  | "WEFT_NO_SUCH_CHANNEL"
  | "WEFT_NO_SUCH_SHAREDATA"
  | "WEFT_READ_ONLY"
  | "WEFT_USAGE"
  | "WEFT_RECORD";

export class WeftError extends Error {
  readonly code: WeftErrorCode;
  constructor(code: WeftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An API used out of its order (a request set selected twice, added to after its select ended). */
export class UsageError extends WeftError {
  constructor(message: string) {
    super("WEFT_USAGE", message);
  }
}

/** The address does not name a live service (never existed, exited, or its worker was lost). */
export class NoSuchServiceError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_NO_SUCH_SERVICE", message, options);
  }
}

/** The service exited (or was killed) before it answered the call. */
export class ServiceExitedError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_SERVICE_EXITED", message, options);
  }
}

/** The call was given a timeout and no answer came in time. The late answer is dropped. */
export class CallTimeoutError extends WeftError {
  constructor(message: string) {
    super("WEFT_CALL_TIMEOUT", message);
  }
}

/** The remote handler threw; `cause` carries its message and stack. */
export class RemoteError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_REMOTE_ERROR", message, options);
  }
}

export class UnknownCommandError extends WeftError {
  constructor(message: string) {
    super("WEFT_UNKNOWN_COMMAND", message);
  }
}

export class UnknownProtocolError extends WeftError {
  constructor(message: string) {
    super("WEFT_UNKNOWN_PROTOCOL", message);
  }
}

/** The worker thread hosting the service died; everything on it is gone. */
export class WorkerLostError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_WORKER_LOST", message, options);
  }
}

/** A service's module could not be found or its start function threw. */
export class ServiceStartError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_START_FAILED", message, options);
  }
}

export class NameTakenError extends WeftError {
  constructor(message: string) {
    super("WEFT_NAME_TAKEN", message);
  }
}

/** A message argument cannot cross to another service (a function, for instance). */
export class EncodeError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_ENCODE", message, options);
  }
}

export class ConfigError extends WeftError {
  constructor(message: string) {
    super("WEFT_CONFIG", message);
  }
}

/** The runtime is not started, or is stopping. */
export class NotRunningError extends WeftError {
  constructor(message: string) {
    super("WEFT_NOT_RUNNING", message);
  }
}

/** A netpack payload over 65535 bytes: weft refuses it rather than truncate it. */
export class PacketTooLargeError extends WeftError {
  /** `of`: whose limit it is ("a netpack frame", "the websocket gate's maxPayload"). */
  constructor(size: number, limit: number, of = "a netpack frame") {
    super("WEFT_PACKET_TOO_LARGE", `packet of ${size} bytes exceeds the ${limit}-byte limit of ${of}`);
  }
}

/** A multicast channel id that was deleted or never created (lib/multicast). */
export class NoSuchChannelError extends WeftError {
  constructor(message: string) {
    super("WEFT_NO_SUCH_CHANNEL", message);
  }
}

/** A sharedata name that was never created or has been deleted (lib/sharedata). */
export class NoSuchSharedataError extends WeftError {
  constructor(message: string) {
    super("WEFT_NO_SUCH_SHAREDATA", message);
  }
}

/** A write to a read-only view (a sharedata table): readers share one copy, so none may change it. */
export class ReadOnlyError extends WeftError {
  constructor(message: string) {
    super("WEFT_READ_ONLY", message);
  }
}

/** A message record between threads that does not hold together (runtime/record.ts): a bug or a corruption, never input. */
export class RecordError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WEFT_RECORD", message, options);
  }
}

const byCode: Record<string, new (message: string, options?: { cause?: unknown }) => WeftError> = {
  WEFT_NO_SUCH_SERVICE: NoSuchServiceError,
  WEFT_SERVICE_EXITED: ServiceExitedError,
  WEFT_UNKNOWN_COMMAND: UnknownCommandError,
  WEFT_UNKNOWN_PROTOCOL: UnknownProtocolError,
  WEFT_WORKER_LOST: WorkerLostError,
  WEFT_START_FAILED: ServiceStartError,
  WEFT_NAME_TAKEN: NameTakenError,
  WEFT_ENCODE: EncodeError,
  WEFT_CONFIG: ConfigError,
  WEFT_NOT_RUNNING: NotRunningError,
  WEFT_NO_SUCH_CHANNEL: NoSuchChannelError,
  WEFT_NO_SUCH_SHAREDATA: NoSuchSharedataError,
};

/** Failures that mean the same thing however many services passed them on. */
const transparent = new Set(["WEFT_START_FAILED", "WEFT_NAME_TAKEN", "WEFT_WORKER_LOST", "WEFT_CONFIG", "WEFT_NOT_RUNNING", "WEFT_NO_SUCH_CHANNEL", "WEFT_NO_SUCH_SHAREDATA"]);

/** The service called is gone (never was, exited, or went with its worker): not a failure of the call itself. */
export function isGone(err: unknown): boolean {
  return err instanceof NoSuchServiceError || err instanceof ServiceExitedError || err instanceof WorkerLostError;
}

/**
 * The class to rebuild a remote error with: weft's own refusals (`byRuntime`) and the
 * transparent codes keep their class; anything else a handler threw becomes a RemoteError.
 */
export function errorClassFor(code: unknown, byRuntime: boolean): (new (message: string, options?: { cause?: unknown }) => WeftError) | undefined {
  if (typeof code !== "string" || !(byRuntime || transparent.has(code))) return undefined;
  return byCode[code];
}
