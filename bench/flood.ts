/**
 * Flood benchmark: what one attacker does to everyone else. The echo example (examples/echo,
 * in its own process, as in bench/gate.ts) serves 100 normal clients doing request/response
 * (bench/loadgen.ts, depth 1, 64 B) while one flooding client (bench/flooder.ts) sends packets
 * as fast as its socket takes them: first one that reads its echoes, then one that never reads.
 * Each runs with the gate's inbound mark (the default, 1024) and without it (inboundMark=1e9);
 * every scenario gets a fresh server, so its peak RSS (VmHWM) is its own. Then the same
 * non-reading flooder alone against the watchdog example (examples/config.json), to read the
 * server's RSS against its backlogLimit.
 *
 *   node dist/bench/flood.js [scale]      (scale multiplies every duration; default 1)
 *
 * WEFT_SERVER_ROOT=<checkout> runs the servers from another checkout (built), to compare
 * with an older gate.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { defaults } from "weft";
import type { FloodResult } from "./flooder.js";
import { rate as fmt } from "./format.js";
import { load, PAYLOAD, server, start, stop, type Measured, type Server } from "./gate.js";

const here = fileURLToPath(new URL("./", import.meta.url));
const serverRoot = process.env.WEFT_SERVER_ROOT ?? fileURLToPath(new URL("../../", import.meta.url));
const weftBin = `${serverRoot}/dist/bin/weft.js`;
const FLOOD_SIZE = 1024;
const NORMAL = 100;
const MiB = 1024 * 1024;

interface Scenario {
  title: string;
  flood: "none" | "reads" | "silent";
  /** undefined: the gate's default mark. */
  inboundMark?: number;
  /** The gate's per-connection packet-rate limit (packets/s); undefined: none. */
  rate?: number;
}

interface Row {
  scenario: Scenario;
  normal: Measured;
  flood: FloodResult | undefined;
  /** Peak resident set of the server process over the scenario (VmHWM), bytes. */
  peakRss: number;
  /** Its resident set just before the load started. */
  idleRss: number;
}

/** A field of /proc/<pid>/status in bytes (Linux); 0 elsewhere. */
function statusBytes(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs the flooder until it prints its result. */
async function flooder(port: number, mode: "reads" | "silent", seconds: number, kind: "echo" | "example"): Promise<FloodResult> {
  const child = start([`${here}flooder.js`, "127.0.0.1", String(port), mode, String(seconds), String(FLOOD_SIZE), kind]);
  const out: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => out.push(line));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  const json = out.find((line) => line.startsWith("{"));
  if (code !== 0 || json === undefined) throw new Error(`flooder failed (exit ${code}): ${out.join("\n")}`);
  return JSON.parse(json) as FloodResult;
}

const echoServer = (inboundMark?: number, rate?: number): Promise<Server> =>
  server(
    "weft",
    [
      weftBin,
      "examples/echo/config.json",
      "port=0",
      "maxclient=2000",
      ...(inboundMark === undefined ? [] : [`inboundMark=${inboundMark}`]),
      ...(rate === undefined ? [] : [`rate=${rate}`]),
    ],
    /listening on \S+:(\d+)\s*$/,
    serverRoot,
  );

async function run(s: Scenario, secs: (n: number) => number): Promise<Row> {
  const target = await echoServer(s.inboundMark, s.rate);
  try {
    const pid = target.child.pid;
    const idleRss = statusBytes(pid, "VmRSS");
    const warmup = secs(1);
    const measured = secs(3);
    // The flood starts first and lasts past the normal clients' run.
    const flood = s.flood === "none" ? undefined : flooder(target.port, s.flood, warmup + measured + secs(1.5), "echo");
    const normal = await load(target, { title: s.title, connections: NORMAL, depth: 1, run: `${measured}s`, warmup });
    const floodResult = await flood;
    const peakRss = statusBytes(pid, "VmHWM");
    if (target.child.exitCode !== null) throw new Error(`the echo server died during "${s.title}":\n${target.log.join("\n")}`);
    return { scenario: s, normal, flood: floodResult, peakRss, idleRss };
  } finally {
    await stop(target.child);
  }
}

const us = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** A flooder alone against a fresh server, and the server's RSS then. */
async function floodAlone(name: string, starting: Promise<Server>, kind: "echo" | "example", mode: "reads" | "silent", seconds: number): Promise<string> {
  const target = await starting;
  try {
    const pid = target.child.pid;
    const idle = statusBytes(pid, "VmRSS");
    const result = await flooder(target.port, mode, seconds, kind);
    const peak = statusBytes(pid, "VmHWM");
    const died = target.child.exitCode !== null;
    return (
      `    ${`${name}, ${mode === "silent" ? "never reads" : "reads"}`.padEnd(32)} idle ${mib(idle).padStart(9)}  peak ${mib(peak).padStart(9)}  (+${mib(peak - idle)}; backlogLimit ${mib(defaults.backlogLimit)})  ` +
      `flooder wrote ${mib(result.sent)}, read ${mib(result.received)}${result.cut ? ", was cut" : ""}${died ? "  SERVER DIED" : ""}`
    );
  } finally {
    await stop(target.child);
  }
}

export async function main(scale = 1): Promise<Row[]> {
  const secs = (n: number) => Math.max(0.2, n * scale);
  const OFF = 1e9;
  const scenarios: Scenario[] = [
    { title: "no flood (baseline)", flood: "none" },
    { title: "flood that reads, mark 1024", flood: "reads" },
    { title: "flood that reads, no mark", flood: "reads", inboundMark: OFF },
    { title: "flood that never reads, mark 1024", flood: "silent" },
    { title: "flood that never reads, no mark", flood: "silent", inboundMark: OFF },
    // The mark bounds memory, not shares: a flooder that reads its echoes is a fast client. The
    // rate limit (off by default) is what keeps it to its share.
    { title: "flood that reads, rate 20000/s", flood: "reads", rate: 20_000 },
  ];
  console.log(`flood bench: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}; server, clients and this driver share these cores`);
  console.log(`  server: node dist/bin/weft.js examples/echo/config.json port=0 maxclient=2000 [inboundMark=${OFF}] (from ${serverRoot}), a fresh one per scenario`);
  console.log(`  normal: node dist/bench/loadgen.js, ${NORMAL} connections, depth 1, ${PAYLOAD} B, ${secs(3)} s after ${secs(1)} s warm-up, every echo checked`);
  console.log(`  flood:  node dist/bench/flooder.js, 1 connection, ${FLOOD_SIZE} B packets in 64 KiB writes as fast as the socket takes them, from before the warm-up to after the run`);
  const rows: Row[] = [];
  for (const s of scenarios) {
    const r = await run(s, secs);
    rows.push(r);
    const f = r.flood;
    const flood = f === undefined ? "" : `  flooder wrote ${mib(f.sent)}, read ${mib(f.received)}${f.cut ? ", was cut" : ""}`;
    console.log(
      `  ${s.title.padEnd(36)} normal ${fmt(r.normal.rate).padStart(6)}/s  p50 ${us(r.normal.p50).padStart(8)}  p99 ${us(r.normal.p99).padStart(8)}  errors ${r.normal.errors}  ` +
        `server RSS peak ${mib(r.peakRss).padStart(9)} (idle ${mib(r.idleRss)})${flood}`,
    );
  }

  console.log(`  the flooder alone for ${secs(6)} s (${FLOOD_SIZE} B requests), a fresh server each time, its RSS against backlogLimit:`);
  const example = () =>
    server("weft", [weftBin, "examples/config.json", "port=0", "console=0", "gate=gate", "web=false", "wsport=0"], /Watchdog listen on \S+:(\d+)\s*$/, serverRoot);
  for (const mode of ["silent", "reads"] as const) {
    console.log(await floodAlone("echo example", echoServer(), "echo", mode, secs(6)));
    console.log(await floodAlone("watchdog example", example(), "example", mode, secs(6)));
  }

  const [base, readsMark, readsOff, silentMark, silentOff] = rows;
  const p = (r: Row | undefined) => (r ? `p50 ${us(r.normal.p50)} p99 ${us(r.normal.p99)}, peak RSS ${mib(r.peakRss)}` : "skipped");
  console.log(
    `flood: baseline ${p(base)}; reading flooder with the mark ${p(readsMark)} (without ${p(readsOff)}); ` +
      `non-reading flooder with the mark ${p(silentMark)} (without ${p(silentOff)}); ${rows.reduce((n, r) => n + r.normal.errors, 0)} errors`,
  );
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 1)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
