/**
 * The `weft <config> [key=value ...]` command, run as a real child process. Its configs and
 * services are plain JSON/JS under test/fixtures/cli (not compiled); basic.json also finds the
 * compiled fixtures (life_stall) in dist/test/fixtures.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { logFile } from "./helpers.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = join(repo, "dist/bin/weft.js");
const cli = fileURLToPath(new URL("./fixtures/cli/", import.meta.url));
const config = (name: string) => join(cli, name);

/** A log line as the logger prints it. */
const ADDRESS_LINE = /^\[:[0-9a-f]{8}\] /;
/** What a stack trace looks like; config errors must not print one. */
const STACK = /^\s+at /m;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs `weft ...args`; the process is killed when the test ends, pass or fail. */
function weft(args: string[], cwd = repo) {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DEBUG: "" } });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (data: string) => {
    stdout += data;
    for (const check of [...waiters]) check();
  });
  child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
  // 'close' comes after 'exit' and after stdout and stderr have been read to the end.
  const exited = new Promise<Exit>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });

  /** Resolves with the first stdout line matching `pattern`; rejects if the process ends first. */
  const line = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = stdout.split("\n").find((l) => pattern.test(l));
        if (found === undefined) return;
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
      void exited.then((exit) => {
        waiters.delete(check);
        reject(new Error(`weft exited (${JSON.stringify(exit)}) before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      });
    });

  return { child, line, exited, stdout: () => stdout, stderr: () => stderr };
}

const tempDir = () => mkdtempSync(join(tmpdir(), "weft-cli-"));

const readLines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

describe("weft <config>", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`starts the config's start service, logs to stdout, and exits 0 on ${signal} after the exit hooks ran`, async () => {
      const hooks = join(tempDir(), "hooks.txt");
      const run = weft([config("basic.json"), `hookFile=${hooks}`]);
      const ready = await run.line(/cli_main ready/);
      expect(ready).toMatch(ADDRESS_LINE);
      expect(run.stdout()).toContain(`env greeting string "from the file"`);
      expect(readLines(hooks)).toEqual([]);

      run.child.kill(signal);
      expect(await run.exited).toEqual({ code: 0, signal: null });
      // cli_main on one worker, the cli_plain it started on the other.
      const address = ready.slice(1, 10);
      expect(readLines(hooks).sort()).toEqual([`cli_main ${address}`, expect.stringMatching(/^cli_plain :[0-9a-f]{8}$/)]);
      expect(run.stderr()).toBe("");
    });
  }

  it("what exit hooks log reaches stdout before weft exits, even if the logger's worker is busy", async () => {
    // stall=300: worker 1, where the logger lives, is kept busy for 300 ms as shutdown begins.
    const run = weft([config("basic.json"), "stall=300"]);
    const ready = await run.line(/cli_main ready/);
    run.child.kill("SIGINT");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toMatch(/^\[:[0-9a-f]{8}\] last words$/m);
    expect(run.stdout().split("\n")).toContain(`${ready.slice(0, 12)}cli_main exit hook ran`);
  });
});

describe("weft exits 1 for a process supervisor to see", () => {
  it("when supervision gives up: too many restarts in restartPeriod", async () => {
    const run = weft([config("flaky.json"), "start=sup_flaky"]);
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.stdout()).toMatch(/restart intensity reached: .*sup_flaky.*more than 2 restarts within 60000 ms/);
    expect(run.stderr()).toMatch(/^weft: restart intensity reached/m);
  });

  it("when a shutdown could not end every service: it names them", async () => {
    const run = weft([config("flaky.json"), "start=sup_stuck", "endlessLoop=300", "stuckWorker=0"]);
    // The kernel's report, from the main thread: the loop is running.
    const stuck = await run.line(/maybe an endless loop/);
    run.child.kill("SIGTERM");
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.stderr()).toContain(`weft: these services did not stop: ${stuck.slice(1, 10)} sup_stuck`);
  });
});

describe("key=value overrides", () => {
  it("reach svc.getenv as numbers, JSON values or strings, and replace keys of the file", async () => {
    const run = weft([
      config("basic.json"),
      "count=42",
      'obj={"a":[1,2],"b":null}',
      "name=hello world",
      "flag=true",
      'quoted="7"',
      "empty=",
      "greeting=overridden",
      "thread=1",
    ]);
    await run.line(/cli_main ready/);
    const env = run
      .stdout()
      .split("\n")
      .filter((l) => / env /.test(l))
      .map((l) => l.replace(ADDRESS_LINE, ""));
    expect(env).toEqual([
      `env greeting string "overridden"`,
      `env count number 42`,
      `env obj object {"a":[1,2],"b":null}`,
      `env name string "hello world"`,
      `env flag boolean true`,
      `env quoted string "7"`,
      `env empty string ""`,
      `env thread number 1`,
    ]);
    run.child.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
  });
});

describe("paths in the config", () => {
  it("servicePath and logger are relative to the config file's folder, not the cwd", async () => {
    const log = logFile();
    const folder = dirname(log.path);
    const file = join(folder, "weft.json");
    writeFileSync(file, JSON.stringify({ thread: 2, start: "cli_main", servicePath: relative(folder, cli), logger: "weft.log" }));
    const hooks = join(tempDir(), "hooks.txt");
    const run = weft([file, `hookFile=${hooks}`], tmpdir());
    const ready = await log.waitFor(/cli_main ready/);
    expect(ready).toMatch(ADDRESS_LINE);
    run.child.kill("SIGINT");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toBe("");
    expect(log.lines().length).toBeGreaterThan(1);
    for (const line of log.lines()) expect(line).toMatch(ADDRESS_LINE);
    expect(readLines(hooks)).toHaveLength(2);
  });

  it("a config JS module (config.mjs, default export) works", async () => {
    const run = weft([config("config.mjs")]);
    await run.line(/cli_main ready/);
    expect(run.stdout()).toContain(`env greeting string "from config.mjs"`);
    expect(run.stdout()).toContain(`env thread number 1`);
    run.child.kill("SIGINT");
    expect((await run.exited).code).toBe(0);
  });
});

describe("errors", () => {
  /** Runs weft to its end and checks it failed with `message` on stderr. */
  async function fails(args: string[], message: RegExp, cwd?: string): Promise<string> {
    const run = weft(args, cwd);
    const exit = await run.exited;
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(run.stderr()).toMatch(message);
    expect(run.stdout()).toBe("");
    return run.stderr();
  }

  it("a missing config file", async () => {
    const stderr = await fails(["no-such-config.json"], /^weft: cannot read config no-such-config\.json: ENOENT/, tempDir());
    expect(stderr).not.toMatch(STACK);
  });

  it("a config file that is not valid JSON", async () => {
    const stderr = await fails([config("invalid.json")], /^weft: cannot read config .*invalid\.json: .*JSON/);
    expect(stderr).not.toMatch(STACK);
  });

  it("a start service that does not exist: the message names it", async () => {
    const stderr = await fails([config("missing_start.json")], /^weft: .*service "cli_nowhere" not found/);
    expect(stderr).not.toMatch(STACK);
  });

  it("a start service whose start function throws: the message carries its error", async () => {
    await fails([config("throws.json")], /^weft: service "cli_throws" .*failed to start: the disk is on fire/);
  });

  it("a key=value argument without '='", async () => {
    const stderr = await fails([config("basic.json"), "thread"], /^weft: "thread" is not key=value/);
    expect(stderr).not.toMatch(STACK);
  });

  it("thread=0", async () => {
    const stderr = await fails([config("basic.json"), "thread=0"], /^weft: thread must be an integer from 1 to 255, not 0/);
    expect(stderr).not.toMatch(STACK);
  });

  it("no arguments prints the usage and exits 2", async () => {
    const run = weft([]);
    expect(await run.exited).toEqual({ code: 2, signal: null });
    expect(run.stderr()).toMatch(/^usage: weft <config/);
  });
});
