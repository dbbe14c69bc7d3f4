/**
 * Gate benchmark: the echo example (gate → agent → gate through the real runtime, in its own
 * process as `weft examples/echo/config.json`) against a bare node:net echo server with the
 * same framing (bench/bare-echo.ts), both loaded the same way by bench/loadgen.ts in a third
 * process, all on the same cores. Each scenario runs against the bare server, then against
 * weft, and prints weft's figures as a ratio of bare Node's from the same run.
 *
 *   node dist/bench/gate.js [scale]          (scale multiplies every duration; default 1)
 *   node dist/bench/gate.js crowd [scale]    (the crowd scenarios alone; WEFT_BEFORE=<checkout> adds another build)
 *
 * Scenarios: one connection at depth 1 (latency), 100 connections at depth 1 (throughput
 * against bare Node), 100 connections with 16 packets in flight each (pipelining, where the
 * gate must coalesce its writes), and 10,000 connections open at once, each sending a few
 * packets, where every connection must get every echo back. Every echoed byte is checked.
 *
 * Then crowds (`crowd`): 1,000 and 10,000 connections issued at once against the echo example,
 * the watchdog example (agents started by newService on other workers) and bare node:net, each
 * connection sending as soon as it is connected: how long until the last one has its first echo
 * (`ready`), and how often the kernel's listen queue overflowed meanwhile.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Result } from "./loadgen.js";
import { rate as fmt } from "./format.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const here = fileURLToPath(new URL("./", import.meta.url));
const weftBin = fileURLToPath(new URL("../bin/weft.js", import.meta.url));
const CONFIG = "examples/echo/config.json";
/** The payload of each load-generator packet (bench/flood.ts uses the same). */
export const PAYLOAD = 64;
const MANY = 10_000;

/** Open files wanted by each child: the 10,000-connection scenario needs one per socket. */
const NOFILE = 65536;
/** Raises the open-file limit as far as it goes, says what it got, then runs the command. */
const WRAP = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; echo "nofile $(ulimit -n)"; exec "$@"`;

export interface Server {
  name: "weft" | "bare";
  child: ChildProcess;
  port: number;
  nofile: number;
  /** Lines the server printed besides its banner (weft's log), shown after the table. */
  log: string[];
}

export interface Scenario {
  title: string;
  connections: number;
  depth: number;
  /** "4s" (seconds) or "5" (packets per connection). */
  run: string;
  warmup: number;
  /** Runs per server, alternating which goes first. */
  rounds: number;
  /**
   * Which run of each server is shown: the one with the lowest p50 (latency), or the median by
   * packets/s (throughput; the ratio is then the median of the rounds' own ratios, each round
   * loading both servers back to back, since this machine's speed drifts by tens of percent).
   */
  pick: "p50" | "median";
}

export interface Measured extends Result {
  /** The server process's CPU time over the load generator's whole run, in ms (-1: unknown). */
  serverCpuMs: number;
  /** The load generator's wall time, from spawn to exit. */
  wallMs: number;
}

interface Row {
  scenario: Scenario;
  /** The run of each server that is shown (see Scenario.pick). */
  bare: Measured;
  weft: Measured;
  /** weft's packets/s over bare's. */
  ratio: number;
  /** Errors over every run of the scenario, both servers. */
  errors: number;
}

const children = new Set<ChildProcess>();

/** Starts `node <args>` under the ulimit wrapper (its first stdout line is `nofile <limit>`), in `cwd` (default this checkout). */
export function start(args: string[], cwd = root): ChildProcess {
  const child = spawn("bash", ["-c", WRAP, "bash", process.execPath, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Starts a server and waits for the line that names its port. */
export async function server(name: Server["name"], args: string[], banner: RegExp, cwd?: string): Promise<Server> {
  const child = start(args, cwd);
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => log.push(`stderr: ${line}`));
  let nofile = 0;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} echo server did not say its port within 20 s:\n${log.join("\n")}`)), 20_000);
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} echo server exited (${code}) before listening:\n${log.join("\n")}`));
    };
    child.once("exit", exited);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const limit = /^nofile (\d+|unlimited)$/.exec(line);
      const m = banner.exec(line);
      if (limit) nofile = limit[1] === "unlimited" ? Infinity : Number(limit[1]);
      else if (m) {
        clearTimeout(timer);
        child.off("exit", exited);
        resolve(Number(m[1]));
      } else log.push(line);
    });
  });
  return { name, child, port, nofile, log };
}

/** user + system CPU of a process so far, in ms, from /proc (Linux); -1 elsewhere. */
function cpuOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime), counted from after the command name, in 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return -1;
  }
}

/**
 * Runs the load generator once against `target` and returns what it measured. `flags` go to
 * loadgen as they are (`--at-once`, `--proto watchdog`).
 */
export async function load(target: Server, s: Pick<Scenario, "title" | "connections" | "depth" | "run" | "warmup">, flags: string[] = []): Promise<Measured> {
  const args = [`${here}loadgen.js`, ...flags, "127.0.0.1", String(target.port), String(s.connections), String(s.depth), String(PAYLOAD), s.run, String(s.warmup)];
  const cpu0 = cpuOf(target.child.pid);
  const t0 = performance.now();
  const child = start(args);
  const out: string[] = [];
  const err: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => out.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => err.push(line));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  const wallMs = performance.now() - t0;
  const cpu1 = cpuOf(target.child.pid);
  const json = out.find((line) => line.startsWith("{"));
  if (code !== 0 || json === undefined) throw new Error(`loadgen against ${target.name} failed (exit ${code}):\n${[...out, ...err].join("\n")}`);
  if (target.child.exitCode !== null || target.child.signalCode !== null) throw new Error(`the ${target.name} echo server died during "${s.title}":\n${target.log.join("\n")}`);
  return { ...(JSON.parse(json) as Result), serverCpuMs: cpu0 < 0 || cpu1 < 0 ? -1 : cpu1 - cpu0, wallMs };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}


/** The middle element by `key` (the lower middle of an even count). */
function median<T>(list: T[], key: (x: T) => number): T {
  return [...list].sort((a, b) => key(a) - key(b))[Math.floor((list.length - 1) / 2)]!;
}

const us = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);

function line(name: string, r: Measured): string {
  const served = r.connections > 1 ? `  served ${r.served}/${r.connections}` : "";
  const connected = r.mode === "count" ? `  (${r.connected} connected in ${(r.connectMs / 1000).toFixed(2)} s first)` : "";
  const cpu = (ms: number, over: number) => (ms < 0 ? "?" : `${Math.round((ms / over) * 100)}%`);
  // The server's CPU is taken over the load generator's whole life (connects, warm-up, drain).
  return (
    `    ${name}  ${fmt(r.rate).padStart(6)} packets/s  p50 ${us(r.p50).padStart(8)}  p99 ${us(r.p99).padStart(8)}  ` +
    `${String(r.packets).padStart(8)} packets in ${r.seconds.toFixed(2)} s${connected}  errors ${r.errors}${served}  ` +
    `verified ${(r.verifiedBytes / 1e6).toFixed(1)} MB  cpu: server ${cpu(r.serverCpuMs, r.wallMs)}, loadgen ${cpu(r.cpuMs, r.seconds * 1000)}`
  );
}

export async function main(scale = 1): Promise<Row[]> {
  const secs = (n: number) => Math.max(0.2, n * scale);
  const scenarios: Scenario[] = [
    { title: "1 connection, depth 1 (latency)", connections: 1, depth: 1, run: `${secs(3)}s`, warmup: secs(0.5), rounds: 2, pick: "p50" },
    { title: "100 connections, depth 1", connections: 100, depth: 1, run: `${secs(3)}s`, warmup: secs(1), rounds: 3, pick: "median" },
    { title: "100 connections, depth 16 (pipelined)", connections: 100, depth: 16, run: `${secs(3)}s`, warmup: secs(1), rounds: 3, pick: "median" },
    { title: `${MANY} connections at once, 4 packets each`, connections: MANY, depth: 1, run: "4", warmup: 0, rounds: 1, pick: "median" },
  ];
  const stopAll = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.once("exit", stopAll);
  const rows: Row[] = [];
  const servers: Server[] = [];
  try {
    // WEFT_ARGS adds key=value settings for the weft server, e.g. WEFT_ARGS="thread=1 spin=0".
    const extra = (process.env.WEFT_ARGS ?? "").split(/\s+/).filter(Boolean);
    const weft = await server("weft", [weftBin, CONFIG, "port=0", `maxclient=${MANY + 1000}`, ...extra], /listening on \S+:(\d+)\s*$/);
    servers.push(weft);
    const bare = await server("bare", [`${here}bare-echo.js`, "0"], /^bare echo listening on \S+:(\d+)$/);
    servers.push(bare);
    console.log(
      `gate bench: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}; servers, load generator and this driver share these cores`,
    );
    const threadArg = extra.find((a) => a.startsWith("thread="));
    const threads = threadArg ? Number(threadArg.slice(7)) : (JSON.parse(readFileSync(`${root}${CONFIG}`, "utf8")) as { thread?: number }).thread;
    console.log(
      `  weft: node dist/bin/weft.js ${CONFIG} port=0 maxclient=${MANY + 1000}${extra.length ? ` ${extra.join(" ")}` : ""} (${threads === undefined ? `${availableParallelism()} worker threads, one per core` : `${threads} worker threads`}; a watchdog, the gate, one echo agent per connection)`,
    );
    console.log(`  bare: node dist/bench/bare-echo.js (1 thread, node:net, the same 2-byte big-endian framing, one write per read)`);
    console.log(
      `  load: node dist/bench/loadgen.js, 1 process per run, closed loop (each echo lets the next packet go), ${PAYLOAD} B payloads (+2 B header), every echoed byte checked; each scenario runs in rounds of bare then weft, the next round weft then bare`,
    );
    const limit = Math.min(weft.nofile, bare.nofile);
    console.log(`  open-file limit in the children: ${limit === Infinity ? "unlimited" : limit}`);
    for (const s of scenarios) {
      const count = !s.run.endsWith("s");
      const offered = count
        ? `${s.connections} connections opened first, then ${s.run} packets each at depth ${s.depth}`
        : `${s.connections} × ${s.depth} in flight × ${PAYLOAD} B for ${s.run.slice(0, -1)} s after ${s.warmup} s warm-up`;
      console.log(`  ${s.title}: offered ${offered}`);
      if (count && limit < s.connections + 100) {
        console.log(`    skipped: the open-file limit is ${limit}, below ${s.connections + 100}`);
        continue;
      }
      // Bare then weft, then weft then bare: a machine that slows down (or speeds up) during
      // the scenario touches both servers alike.
      const runs: Record<Server["name"], Measured[]> = { bare: [], weft: [] };
      const logged = weft.log.length;
      for (let round = 0; round < s.rounds; round++) {
        for (const target of round % 2 === 0 ? [bare, weft] : [weft, bare]) runs[target.name].push(await load(target, s));
      }
      const pickOf = (list: Measured[]): Measured =>
        s.pick === "p50" ? list.reduce((a, b) => (b.p50 < a.p50 ? b : a)) : median(list, (r) => r.rate);
      const b = pickOf(runs.bare);
      const w = pickOf(runs.weft);
      const all = (list: Measured[]) => list.map((r) => (s.pick === "p50" ? `p50 ${us(r.p50)}` : `${fmt(r.rate)}/s`)).join(", ");
      console.log(line("bare", b));
      console.log(line("weft", w));
      if (s.rounds > 1) console.log(`    ${s.pick === "p50" ? "lowest p50" : "median by packets/s"} of ${s.rounds} runs each (bare ${all(runs.bare)}; weft ${all(runs.weft)}); errors count every run`);
      const said = weft.log.slice(logged);
      if (said.length > 0) console.log(`    weft logged ${said.length} line${said.length === 1 ? "" : "s"} during the runs: ${[...new Set(said)].slice(0, 3).join(" | ")}`);
      const ratio = s.pick === "p50" ? w.rate / b.rate : median(runs.weft.map((r, i) => r.rate / runs.bare[i]!.rate), (x) => x);
      const how = s.pick === "median" && s.rounds > 1 ? " (median of the rounds' ratios)" : "";
      console.log(`    weft/bare: ${ratio.toFixed(2)}× packets/s${how}, p50 ${(w.p50 / b.p50).toFixed(2)}×`);
      const errors = (list: Measured[]) => list.reduce((n, r) => n + r.errors, 0);
      rows.push({ scenario: s, bare: b, weft: w, ratio, errors: errors(runs.bare) + errors(runs.weft) });
    }
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
    stopAll();
    process.off("exit", stopAll);
  }

  const [lat, flat, piped, many] = rows;
  const met = (ok: boolean) => (ok ? "met" : "missed");
  const parts: string[] = [];
  if (lat) parts.push(`1 connection p50 ${us(lat.weft.p50)} (bare ${us(lat.bare.p50)}; ≤ 150 µs ${met(lat.weft.p50 <= 150)})`);
  if (flat) parts.push(`100 connections ${fmt(flat.weft.rate)}/s (bare ${fmt(flat.bare.rate)}/s), median round ratio ${flat.ratio.toFixed(2)}× (≥ 0.9× ${met(flat.ratio >= 0.9)})`);
  if (piped) parts.push(`100 × 16 pipelined ${fmt(piped.weft.rate)}/s (bare ${fmt(piped.bare.rate)}/s; ≥ 500k ${met(piped.weft.rate >= 5e5)})`);
  if (many) parts.push(`${many.weft.connections} connections: ${many.weft.served} served (${met(many.weft.served === many.weft.connections && many.weft.errors === 0)})`);
  else parts.push(`${MANY} connections: skipped`);
  const errors = rows.reduce((n, r) => n + r.errors, 0);
  console.log(`gate: ${parts.join("; ")}; ${errors} errors`);
  console.log();
  await crowd(scale);
  return rows;
}

// ---- crowds: connections arriving at once ------------------------------------------------------

/**
 * The kernel's count of connections its listen queues could not take (TcpExtListenOverflows,
 * /proc/net/netstat), machine-wide; -1 where there is no such file. A rise during a run means
 * SYNs or handshakes were dropped and clients wait for a retransmission (1 s, then 3 s, 7 s...).
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const at = lines.findIndex((l) => l.startsWith("TcpExt:"));
    const names = lines[at]!.split(/\s+/);
    const values = lines[at + 1]!.split(/\s+/);
    return Number(values[names.indexOf("ListenOverflows")]);
  } catch {
    return -1;
  }
}

interface CrowdScenario {
  title: string;
  connections: number;
  /** loadgen's run: packets per connection, or seconds of echoing (`10s`). */
  run: string;
  /** Runs on one server, started fresh for the scenario: the first is a cold server. */
  rounds: number;
  /** The target for the last connection's first echo, in seconds. */
  readyTarget: number;
}

interface CrowdTarget {
  name: string;
  /** The server's command line (after `node`), run in `root`. */
  args: (root: string) => string[];
  banner: RegExp;
  /** loadgen flags besides --at-once. */
  flags: string[];
}

export interface CrowdRun extends Measured {
  target: string;
  scenario: string;
  overflows: number;
}

const CROWD_MAXCLIENT = 12_000;

/** The servers a crowd meets: the echo example, the watchdog example (agents on other workers), bare node:net. */
function crowdTargets(extra: string[]): CrowdTarget[] {
  const weft = (root: string) => `${root}dist/bin/weft.js`;
  return [
    { name: "echo", args: (root) => [weft(root), CONFIG, "port=0", `maxclient=${CROWD_MAXCLIENT}`, ...extra], banner: /listening on \S+:(\d+)\s*$/, flags: [] },
    {
      name: "watchdog",
      args: (root) => [weft(root), "examples/config.json", "port=0", "console=0", "gate=gate", "web=false", `maxclient=${CROWD_MAXCLIENT}`, ...extra],
      banner: /Watchdog listen on \S+:(\d+)\s*$/,
      flags: ["--proto", "watchdog"],
    },
    { name: "bare", args: (root) => [`${root}dist/bench/bare-echo.js`, "0"], banner: /^bare echo listening on \S+:(\d+)$/, flags: [] },
  ];
}

/**
 * Crowds arriving at once (loadgen --at-once: every connect issued together, each connection
 * sending as soon as it is connected), against each server started fresh per scenario: how long
 * until the last connection has its first echo (ready), whether every one was served, and how
 * often the kernel's listen queue overflowed meanwhile. `WEFT_BEFORE=<checkout>` runs the
 * same crowds against another built checkout too (before/after in one run).
 */
export async function crowd(scale = 1): Promise<CrowdRun[]> {
  const extra = (process.env.WEFT_ARGS ?? "").split(/\s+/).filter(Boolean);
  const roots: [string, string][] = [["now", root]];
  const before = process.env.WEFT_BEFORE;
  if (before) roots.unshift(["before", before.endsWith("/") ? before : `${before}/`]);
  const echoSecs = Math.max(2, Math.round(10 * scale));
  const scenarios: CrowdScenario[] = [
    { title: "1,000 connections at once, 4 packets each", connections: 1000, run: "4", rounds: 3, readyTarget: 1 },
    { title: `${MANY} connections at once, 4 packets each`, connections: MANY, run: "4", rounds: 1, readyTarget: 6 },
    { title: `${MANY} connections at once, each echoing for ${echoSecs} s (accepting while serving)`, connections: MANY, run: `${echoSecs}s`, rounds: 1, readyTarget: 6 },
  ];
  const targets = crowdTargets(extra);
  console.log(`crowd bench: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}; servers, load generator and this driver share these cores`);
  for (const t of targets) console.log(`  ${t.name}: node ${t.args("").join(" ")}`);
  console.log(`  load: node dist/bench/loadgen.js --at-once, depth 1, ${PAYLOAD} B; ready = first connect to the last connection's first echo; a fresh server per scenario${before ? `; "before" runs ${before}` : ""}`);
  const runs: CrowdRun[] = [];
  const stopAll = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.once("exit", stopAll);
  try {
    for (const s of scenarios) {
      console.log(`  ${s.title}: ${s.rounds > 1 ? `${s.rounds} runs on one server (the first cold)` : "1 run"}`);
      for (const t of targets) {
        for (const [label, dir] of t.name === "bare" ? roots.slice(-1) : roots) {
          const srv = await server("weft", t.args(dir), t.banner, dir);
          try {
            if (s.connections + 100 > srv.nofile) {
              console.log(`    ${t.name} ${label}: skipped, the open-file limit is ${srv.nofile}`);
              continue;
            }
            for (let round = 0; round < s.rounds; round++) {
              const o0 = listenOverflows();
              const r = await load(srv, { title: s.title, connections: s.connections, depth: 1, run: s.run, warmup: 0 }, ["--at-once", ...t.flags]);
              const run: CrowdRun = { ...r, target: `${t.name} ${label}`, scenario: s.title, overflows: o0 < 0 ? -1 : listenOverflows() - o0 };
              runs.push(run);
              console.log(crowdLine(run));
            }
          } finally {
            await stop(srv.child);
          }
        }
      }
    }
  } finally {
    stopAll();
    process.off("exit", stopAll);
  }
  const summary = scenarios.map((s) => {
    const mine = runs.filter((r) => r.scenario === s.title && r.target.endsWith(" now") && !r.target.startsWith("bare"));
    const worst = mine.reduce((w, r) => Math.max(w, r.ready_s), 0);
    const all = mine.every((r) => r.served === r.connections && r.errors === 0);
    const each = mine.map((r) => `${r.target.split(" ")[0]} ${r.ready_s.toFixed(2)} s`).join(", ");
    return `${s.title}: ready ${each} (≤ ${s.readyTarget} s, all served, 0 errors: ${worst <= s.readyTarget && all ? "met" : "missed"})`;
  });
  console.log(`crowd: ${summary.join("; ")}`);
  return runs;
}

function crowdLine(r: CrowdRun): string {
  const overflows = r.overflows < 0 ? "?" : `+${r.overflows}`;
  return (
    `    ${r.target.padEnd(15)} ready ${r.ready_s.toFixed(2).padStart(5)} s (median connection ${r.readyP50_s.toFixed(2)} s, ${r.readyConns} got an echo)  ` +
    `served ${r.served}/${r.connections}  errors ${r.errors} (socket ${r.socketErrors}, lost ${r.lost}, closed ${r.closed}, wrong ${r.mismatches})  ` +
    `connects ${(r.connectMs / 1000).toFixed(2)} s  ${r.mode === "duration" ? `${fmt(r.rate)} echoes/s  ` : ""}listen overflows ${overflows}`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // `gate.js crowd [scale]`: the crowds alone.
  const only = process.argv[2] === "crowd";
  const scale = Number(process.argv[only ? 3 : 2] ?? 1);
  (only ? crowd(scale) : main(scale)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
