/**
 * The flood benchmark's attacker, in a process of its own (bench/flood.ts starts it): one TCP
 * connection that sends packets as fast as the socket takes them, and either reads what comes
 * back (and drops it) or never reads at all.
 *
 *   node dist/bench/flooder.js <host> <port> reads|silent <seconds> <size> [echo|example]
 *
 * `echo` (default) sends `size`-byte payloads for the echo server; `example` sends the watchdog
 * example's request `[session, "echo", "<size x's>"]` (msgpack), which its agent answers with
 * the same bytes. Prints one JSON line, a FloodResult, on stdout.
 */
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";

export interface FloodResult {
  mode: "reads" | "silent";
  seconds: number;
  /** Bytes handed to the kernel (frames included). */
  sent: number;
  /** Bytes read back (0 when silent). */
  received: number;
  /** The server closed or reset the connection before the end. */
  cut: boolean;
}

const [host = "127.0.0.1", portText, modeText, secondsText, sizeText, kind = "echo"] = process.argv.slice(2);
const port = Number(portText);
const mode = modeText === "silent" ? "silent" : "reads";
const seconds = Number(secondsText ?? 3);
const size = Number(sizeText ?? 1024);
if (!(port > 0) || !(seconds > 0) || !(size >= 0 && size <= 60_000) || (modeText !== "reads" && modeText !== "silent")) {
  console.error("usage: flooder <host> <port> reads|silent <seconds> <size> [echo|example]");
  process.exit(2);
}

const payload =
  kind === "example" ? new Packr({ useRecords: false }).pack([1, "echo", "x".repeat(size)]) : Buffer.alloc(size, 0x5a);
const frame = Buffer.allocUnsafe(2 + payload.length);
frame.writeUInt16BE(payload.length, 0);
frame.set(payload, 2);
/** One write: as many whole packets as fit in 64 KiB. */
const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(65536 / frame.length)) }, () => frame));

const result: FloodResult = { mode, seconds, sent: 0, received: 0, cut: false };
const socket = connect({ host, port, noDelay: true });
if (mode === "silent") socket.pause();
else socket.on("data", (d: Buffer) => void (result.received += d.length));
socket.on("error", () => (result.cut = true));
socket.on("close", () => {
  result.cut ||= performance.now() < deadline;
  done();
});

let deadline = Infinity;
let finished = false;
const done = () => {
  if (finished) return;
  finished = true;
  socket.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
};

socket.once("connect", () => {
  deadline = performance.now() + seconds * 1000;
  setTimeout(done, seconds * 1000);
  const pump = (): void => {
    // Write until the socket says stop, then go on at 'drain': as fast as it takes bytes.
    while (!finished && !socket.destroyed) {
      result.sent += chunk.length;
      if (!socket.write(chunk)) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
});
