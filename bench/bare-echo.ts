/**
 * The gate benchmark's baseline: a bare node:net echo server with the gate's framing (each
 * packet a 2-byte big-endian length, then the payload), in one thread, with no runtime behind
 * it. It is what a careful Node programmer would write by hand: each read is cut at its last
 * whole packet and those packets go back in one write; a packet cut short waits for the rest.
 * TCP_NODELAY, as the echo example's gate sets it.
 *
 *   node dist/bench/bare-echo.js [port] [address]     (port 0, the default: any free port)
 *
 * Prints `bare echo listening on <address>:<port>` once it listens; SIGTERM or SIGINT ends it.
 */
import { createServer, type Socket } from "node:net";

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? "127.0.0.1";

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  /** The bytes of a packet that did not fit in the last read (the start of the next one). */
  let tail: Buffer | undefined;
  socket.on("data", (chunk: Buffer) => {
    const data = tail === undefined ? chunk : Buffer.concat([tail, chunk]);
    tail = undefined;
    // Walk the packets as the gate's framer does, to find where the last whole one ends.
    let off = 0;
    while (data.length - off >= 2) {
      const end = off + 2 + ((data[off]! << 8) | data[off + 1]!);
      if (end > data.length) break;
      off = end;
    }
    if (off > 0) socket.write(off === data.length ? data : data.subarray(0, off));
    if (off < data.length) tail = data.subarray(off);
  });
  socket.on("error", () => socket.destroy());
}

const server = createServer({ noDelay: true }, serve);
server.listen({ host, port }, () => {
  const bound = server.address() as { address: string; port: number };
  console.log(`bare echo listening on ${bound.address}:${bound.port}`);
});
const stop = () => process.exit(0);
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
