/**
 * `npm run bench`: every benchmark in turn, each printing its setup, its figures and one
 * summary line. Run on an otherwise idle machine; compare rows of one run with each other.
 */
import { cpus } from "node:os";
import { main as flood } from "./flood.js";
import { main as gate } from "./gate.js";
import { main as group } from "./group.js";
import { main as multicast } from "./multicast.js";
import { main as netpack } from "./netpack.js";
import { main as recovery } from "./recovery.js";
import { main as runtime } from "./runtime.js";

console.log(`weft benchmarks on ${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, node ${process.version}\n`);
await runtime();
console.log();
await netpack();
console.log();
await gate();
console.log();
await flood();
console.log();
await recovery();
console.log();
await group();
console.log();
await multicast();
