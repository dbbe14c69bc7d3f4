/**
 * The endless-loop monitor, as skynet's monitor thread: each worker stamps the message it is
 * handling into shared memory, and the main thread, which a stuck worker cannot block, notices
 * when the same stamp has stayed "busy" for too long.
 *
 * Layout per slot (Int32 words): version, busy, source, dest, command length, then up to
 * COMMAND_BYTES of the command's UTF-8 name. The name is only rewritten when it changes.
 */
import type { Handle } from "./handle.js";

const WORDS = 24;
const VERSION = 0;
const BUSY = 1;
const SOURCE = 2;
const DEST = 3;
const CMD_LEN = 4;
const CMD_OFFSET = 5 * 4;
const COMMAND_BYTES = (WORDS - 5) * 4;
/** How often an idle thread looks to clear its "busy" flag, at most; see Stamp. */
const IDLE_CHECK_MS = 250;

export function createStampMemory(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(slots * WORDS * 4);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The writer, on a worker. Plain (non-atomic) stores: the reader only needs them eventually. */
export class Stamp {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private lastCmd = "";
  private lastLength = 0;
  private seen = -1;
  private readonly idleCheck: NodeJS.Timeout;

  /** `limitMs`: the endless-loop limit; an idle thread clears "busy" well within half of it. */
  constructor(memory: SharedArrayBuffer, slot: number, limitMs: number) {
    this.words = new Int32Array(memory, slot * WORDS * 4, WORDS);
    this.bytes = new Uint8Array(memory, slot * WORDS * 4 + CMD_OFFSET, COMMAND_BYTES);
    // Clears "busy" when no message began since the last look: a thread stuck in a handler (or
    // in the continuation it resumed) never runs this, and that is exactly what the monitor
    // sees. A timer, not a per-message setImmediate, keeps the stamp free on the hot path.
    this.idleCheck = setInterval(() => {
      const version = this.words[VERSION];
      if (version === this.seen) this.words[BUSY] = 0;
      this.seen = version;
    }, Math.min(IDLE_CHECK_MS, limitMs / 4));
    this.idleCheck.unref();
  }

  begin(source: Handle, dest: Handle, cmd: string): void {
    const w = this.words;
    w[VERSION]++;
    w[BUSY] = 1;
    w[SOURCE] = source;
    w[DEST] = dest;
    // The name's bytes are only rewritten when it changes; a message with no command (client
    // bytes, a response) just hides them, so the gate's write/packet alternation costs nothing.
    if (cmd === "") w[CMD_LEN] = 0;
    else if (cmd === this.lastCmd) w[CMD_LEN] = this.lastLength;
    else {
      this.lastCmd = cmd;
      this.lastLength = w[CMD_LEN] = encoder.encodeInto(cmd, this.bytes).written;
    }
  }

  /** The service whose message (or call answer) this thread began last; undefined before any. */
  get lastDest(): Handle | undefined {
    return this.words[VERSION] === 0 ? undefined : this.words[DEST] >>> 0;
  }

  close(): void {
    clearInterval(this.idleCheck);
  }
}

export interface StuckReport {
  slot: number;
  source: Handle;
  dest: Handle;
  cmd: string;
  ms: number;
  /** "slow": past the endless-loop limit (a warning); "stuck": past the stuck-worker limit. */
  kind: "slow" | "stuck";
}

/**
 * The reader, on the main thread: call check() periodically. Each stuck stamp is reported
 * once as "slow" (past `limitMs`) and once more as "stuck" (past `stuckMs`, unless 0).
 */
export class StallDetector {
  private readonly seen: { version: number; since: number; reported: number }[] = [];

  constructor(
    private readonly memory: SharedArrayBuffer,
    private readonly limitMs: number,
    private readonly stuckMs = 0,
  ) {}

  check(slots: Iterable<number>, now: number): StuckReport[] {
    const reports: StuckReport[] = [];
    for (const slot of slots) {
      const busyMs = this.busyFor(slot, now);
      const seen = this.seen[slot]!;
      const due = this.stuckMs > 0 && busyMs >= this.stuckMs ? 2 : busyMs >= this.limitMs ? 1 : 0;
      if (due <= seen.reported) continue;
      seen.reported = due;
      reports.push({ ...this.current(slot), ms: busyMs, kind: due === 2 ? "stuck" : "slow" });
    }
    return reports;
  }

  /** How long the worker at `slot` has been in the message it is handling now (0: idle). */
  busyFor(slot: number, now: number): number {
    const w = new Int32Array(this.memory, slot * WORDS * 4, WORDS);
    const version = Atomics.load(w, VERSION);
    const busy = Atomics.load(w, BUSY) === 1;
    const seen = (this.seen[slot] ??= { version: -1, since: now, reported: 0 });
    if (!busy || version !== seen.version) {
      seen.version = version;
      seen.since = now;
      seen.reported = 0;
      return 0;
    }
    return now - seen.since;
  }

  /** The message the worker at `slot` is in now, as its stamp says. */
  current(slot: number): { slot: number; source: Handle; dest: Handle; cmd: string } {
    const w = new Int32Array(this.memory, slot * WORDS * 4, WORDS);
    const len = Math.min(Atomics.load(w, CMD_LEN), COMMAND_BYTES);
    const cmd = decoder.decode(new Uint8Array(this.memory, slot * WORDS * 4 + CMD_OFFSET, len).slice());
    return { slot, source: w[SOURCE] >>> 0, dest: w[DEST] >>> 0, cmd };
  }

  /** A replacement worker starts with a clean stamp. */
  reset(slot: number): void {
    delete this.seen[slot];
    new Int32Array(this.memory, slot * WORDS * 4, WORDS).fill(0);
  }
}
