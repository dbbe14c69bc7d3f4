/**
 * The group benchmark's clients, in a process of their own: `connections` TCP connections that
 * only read. Each counts the whole packets (2-byte big-endian length framing) it gets and checks
 * their length. Prints `ready` once all are connected, then one JSON line when every connection
 * has `packets` packets (or after 60 s): how many arrived and over how long.
 *
 *   node dist/bench/receivers.js <port> <connections> <packets> <size>
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

export interface Received {
  connections: number;
  packets: number;
  /** Packets of the wrong length. */
  bad: number;
  /** From the first byte received to the last packet, in ms. */
  ms: number;
  /** When the last packet came, in ms since the epoch (comparable across processes). */
  lastAt: number;
}

const [port, connections, expected, size] = process.argv.slice(2).map(Number) as [number, number, number, number];
let total = 0;
let bad = 0;
let complete = 0;
let first = 0;

function receive(socket: Socket): void {
  let got = 0;
  let carry: Buffer | undefined;
  socket.on("data", (chunk: Buffer) => {
    if (first === 0) first = performance.now();
    let buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 2) {
      const len = buf.readUInt16BE(at);
      if (buf.length - at < 2 + len) break;
      if (len !== size) bad++;
      at += 2 + len;
      got++;
      total++;
      if (got === expected && ++complete === connections) finish();
    }
    carry = at < buf.length ? buf.subarray(at) : undefined;
  });
}

const sockets: Socket[] = [];
function finish(): void {
  const now = performance.now();
  const result: Received = { connections, packets: total, bad, ms: now - first, lastAt: performance.timeOrigin + now };
  console.log(JSON.stringify(result));
  for (const s of sockets) s.destroy();
  clearTimeout(giveUp);
}
const giveUp = setTimeout(finish, 60_000);

for (let i = 0; i < connections; i++) {
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, resolve);
    socket.once("error", reject);
    sockets.push(socket);
    receive(socket);
  });
}
console.log("ready");
