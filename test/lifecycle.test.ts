/**
 * A runtime's life: worker threads, handles, the logger, the launcher's list, the start service,
 * and a clean stop. Real worker threads throughout; thread counts are read from /proc (Linux).
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { ConfigError, formatHandle, NoSuchServiceError, NotRunningError, parseHandle, Runtime, ServiceStartError, type Handle } from "weft";
import { fixtures, logFile, startRuntime } from "./helpers.js";

/** Plain JS services, loaded from the source tree as they are. */
const plainFixtures = fileURLToPath(new URL("./fixtures/cli/", import.meta.url));

/** OS threads of this process: each worker thread is one. */
const osThreads = (): number => readdirSync("/proc/self/task").length;
/**
 * A worker's OS thread can outlive its \`exit\` event by a moment, so a count taken as a test
 * begins may still include the last test's threads, which then go. So: after a stop, the count
 * comes down to what it was before within a few seconds (a leaked thread never goes); while a
 * runtime runs, its threads are there on top of that.
 */
const threadsSettleAt = (n: number) => expect.poll(osThreads, { timeout: 5000, interval: 20 }).toBeLessThanOrEqual(n);
const threadsAtLeast = (n: number) => expect(osThreads()).toBeGreaterThanOrEqual(n);

// libuv starts its thread pool at the first asynchronous file operation (the logger makes one):
// start it now, so that only worker threads come and go while these tests count.
beforeAll(() => readFile(fileURLToPath(import.meta.url)));

const tempFile = (name: string): string => join(mkdtempSync(join(tmpdir(), "weft-life-")), name);

const readLines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

interface WhoAmI {
  address: string;
  self: Handle;
  worker: number;
  name: string;
}

/** Captures what reaches this process's stdout (worker threads' stdout is piped through it). */
function captureStdout(marker: string): { text(): string; waitFor(pattern: RegExp): Promise<string> } {
  let text = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (!s.includes(marker)) return write(chunk as string, ...(rest as []));
    text += s;
    for (const w of [...waiters]) {
      const line = text.split("\n").find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
    (rest.find((r) => typeof r === "function") as (() => void) | undefined)?.();
    return true;
  }) as typeof process.stdout.write);
  onTestFinished(() => spy.mockRestore());
  return {
    text: () => text,
    waitFor: (pattern) =>
      new Promise((resolve) => {
        const line = text.split("\n").find((l) => pattern.test(l));
        if (line !== undefined) resolve(line);
        else waiters.push({ pattern, resolve });
      }),
  };
}

describe("worker threads", () => {
  it.each([1, 2, 3])("thread: %i starts that many workers and places services on each", async (n) => {
    const before = osThreads();
    const rt = await startRuntime({ thread: n });
    expect(rt.threads).toBe(n);
    expect(rt.workers().sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    threadsAtLeast(before + n);
    for (let w = 1; w <= n; w++) {
      const addr = await rt.newServiceOn(w, "echo");
      expect(await rt.call(addr, "whoami")).toEqual({ address: formatHandle(addr), worker: w });
    }
    await expect(rt.newServiceOn(n + 1, "echo")).rejects.toMatchObject({ code: "WEFT_CONFIG", message: expect.stringMatching(/workers are 1\.\.\d/) });
    await rt.stop();
    await threadsSettleAt(before);
  });

  it.each([0, 300, -1, 1.5])("thread: %s is a ConfigError and starts nothing", async (thread) => {
    const before = osThreads();
    const failed = Runtime.start({ thread, servicePath: fixtures, start: null });
    await expect(failed).rejects.toBeInstanceOf(ConfigError);
    await expect(failed).rejects.toMatchObject({ code: "WEFT_CONFIG", message: expect.stringMatching(/thread/) });
    await threadsSettleAt(before);
  });
});

describe("handles", () => {
  it("print as skynet's :0000000a", async () => {
    expect(formatHandle(10)).toBe(":0000000a");
    expect(formatHandle(0x0100002a)).toBe(":0100002a");
    expect(parseHandle(":0000000a")).toBe(10);
    const rt = await startRuntime();
    const addr = await rt.newService("life_hooked");
    const me = (await rt.call(addr, "whoami")) as WhoAmI;
    expect(me.address).toMatch(/^:[0-9a-f]{8}$/);
    expect(me.address).toBe(formatHandle(addr));
    expect(me.self).toBe(addr);
  });

  it("are unique and never reused as services start and exit", async () => {
    const rt = await startRuntime({ thread: 3 });
    const seen: Handle[] = (await rt.list()).map((r) => r.handle);
    const dead: Handle[] = [];
    for (let round = 0; round < 4; round++) {
      const started = await Promise.all(Array.from({ length: 15 }, () => rt.newService("life_hooked")));
      // Services that end inside their own start function still used a handle.
      const quick = await Promise.all(Array.from({ length: 5 }, () => rt.newService("life_hooked", null, "quick", true)));
      seen.push(...started, ...quick);
      dead.push(...quick);
      for (const addr of started) expect(await rt.kill(addr)).toBe(true);
      dead.push(...started);
    }
    expect(seen.length).toBe(2 + 4 * 20);
    expect(new Set(seen).size).toBe(seen.length);
    // A dead handle stays dead: nothing answers there.
    for (const addr of dead.slice(-5)) await expect(rt.call(addr, "whoami")).rejects.toBeInstanceOf(NoSuchServiceError);
  });
});

describe("the logger", () => {
  it("writes [:0000000a] lines to stdout when `logger` is unset", async () => {
    const marker = `stdout-${process.pid}-${Date.now()}`;
    const out = captureStdout(marker);
    const rt = await startRuntime();
    const addr = await rt.newService("life_hooked");
    await rt.call(addr, "log", marker, 42, { a: 1 });
    expect(await out.waitFor(new RegExp(marker))).toBe(`[${formatHandle(addr)}] ${marker} 42 { a: 1 }`);
  });

  it("writes to the file named by `logger`, and not to stdout", async () => {
    const marker = `file-${process.pid}-${Date.now()}`;
    const out = captureStdout(marker);
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const a = await rt.newServiceOn(1, "life_hooked");
    const b = await rt.newServiceOn(2, "life_hooked");
    await rt.call(a, "log", `${marker} one`);
    await rt.call(b, "log", `${marker} two`);
    expect(await log.waitFor(new RegExp(`${marker} one`))).toBe(`[${formatHandle(a)}] ${marker} one`);
    expect(await log.waitFor(new RegExp(`${marker} two`))).toBe(`[${formatHandle(b)}] ${marker} two`);
    await rt.stop();
    expect(out.text()).toBe("");
  });
});

describe("the launcher", () => {
  it("lists every service with name, args, worker and address, and drops those that exit", async () => {
    const rt = await startRuntime({ thread: 2 });
    const system = await rt.list();
    expect(system.map((r) => r.name).sort()).toEqual(["launcher", "logger"]);

    const parent = await rt.newServiceOn(2, "life_hooked", null, "parent");
    const child = (await rt.call(parent, "spawn", "life_hooked", null, "child")) as Handle;
    const list = await rt.list();
    const byHandle = new Map(list.map((r) => [r.handle, r]));
    expect(byHandle.get(parent)).toMatchObject({ name: "life_hooked", args: [null, "parent"], worker: 2, address: formatHandle(parent) });
    const me = (await rt.call(child, "whoami")) as WhoAmI;
    expect(byHandle.get(child)).toMatchObject({ name: "life_hooked", args: [null, "child"], worker: me.worker, address: formatHandle(child) });
    expect(list).toHaveLength(4);

    // Ended from inside its start function: never listed.
    await rt.newService("life_hooked", null, "quick", true);
    await rt.kill(parent);
    await vi.waitFor(async () => expect((await rt.list()).map((r) => r.handle)).not.toContain(parent));
    expect((await rt.list()).map((r) => r.name).sort()).toEqual(["launcher", "life_hooked", "logger"]);
    await rt.kill(child);
    await vi.waitFor(async () => expect((await rt.list()).map((r) => r.handle)).not.toContain(child));
    expect(await rt.list()).toHaveLength(2);
  });
});

describe("stop", () => {
  it("runs every exit hook, flushes the logger, ends the workers; twice is fine; then nothing runs", async () => {
    const before = osThreads();
    const hooks = tempFile("hooks.txt");
    const log = logFile();
    const rt = await startRuntime({ thread: 3, logger: log.path });
    const started: Handle[] = [];
    for (let w = 1; w <= 3; w++) {
      started.push(await rt.newServiceOn(w, "life_hooked", hooks, `w${w}a`));
      started.push(await rt.newServiceOn(w, "life_hooked", hooks, `w${w}b`));
    }
    started.push((await rt.call(started[0], "spawn", "life_hooked", hooks, "inner")) as Handle);
    threadsAtLeast(before + 3);

    await rt.stop();
    const labels = ["w1a", "w1b", "w2a", "w2b", "w3a", "w3b"];
    const expected = labels.map((label, i) => `${label} ${formatHandle(started[i])} ${Math.floor(i / 2) + 1}`);
    expect(readLines(hooks).filter((l) => !l.startsWith("inner")).sort()).toEqual(expected.sort());
    expect(readLines(hooks).filter((l) => l.startsWith(`inner ${formatHandle(started[6])} `))).toHaveLength(1);
    // Lines logged by exit hooks next to the logger (worker 1) reached the file before it was closed.
    expect(log.lines()).toEqual(expect.arrayContaining([`[${formatHandle(started[0])}] w1a exiting`, `[${formatHandle(started[1])}] w1b exiting`]));
    await threadsSettleAt(before);

    await rt.stop();
    await Promise.all([rt.stop(), rt.stop()]);
    for (const attempt of [() => rt.call(started[0], "whoami"), () => rt.newService("echo"), () => rt.list()]) {
      const failed = (async () => attempt())();
      await expect(failed).rejects.toBeInstanceOf(NotRunningError);
      await expect(failed).rejects.toMatchObject({ code: "WEFT_NOT_RUNNING" });
    }
  });

  it("writes what exit hooks on every worker log, even when another worker is busy", async () => {
    const log = logFile();
    const rt = await startRuntime({ thread: 2, logger: log.path });
    // The logger lives on the main thread (worker 0), beside the kernel.
    expect((await rt.list()).find((r) => r.name === "logger")).toMatchObject({ worker: 0 });
    // Worker 1 is blocked for 300 ms once its own hooks ran; worker 2's hook logs meanwhile.
    await rt.newServiceOn(1, "life_stall", "after", 300);
    const speaker = await rt.newServiceOn(2, "life_stall", "before", 20, "last words from worker 2");
    await rt.stop();
    expect(log.lines()).toContain(`[${formatHandle(speaker)}] last words from worker 2`);
  });
});

describe("the start service", () => {
  it("runs at boot: its name and its setenv are visible from the main thread", async () => {
    const rt = await startRuntime({ start: "life_boot" });
    const handle = await rt.queryName("life_booted");
    expect(handle).toEqual(expect.any(Number));
    expect(rt.getenv("life_boot")).toEqual({ address: formatHandle(handle!), worker: expect.any(Number) });
    expect(await rt.call("life_booted", "hello")).toBe("hello from the start service");
    expect((await rt.list()).find((r) => r.handle === handle)).toMatchObject({ name: "life_boot" });
  });

  it("a missing start service rejects with ServiceStartError and leaves no thread running", async () => {
    const before = osThreads();
    const failed = Runtime.start({ thread: 2, servicePath: fixtures, start: "life_nowhere" });
    await expect(failed).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failed).rejects.toMatchObject({ code: "WEFT_START_FAILED", message: expect.stringContaining("life_nowhere") });
    await threadsSettleAt(before);
    // The process is still usable: another runtime starts and works.
    const rt = await startRuntime();
    expect(await rt.call(await rt.newService("echo"), "echo", "still here")).toBe("still here");
  });

  it("a start service that throws rejects with its error and leaves no thread running", async () => {
    const before = osThreads();
    const failed = Runtime.start({ thread: 2, servicePath: plainFixtures, start: "cli_throws" });
    await expect(failed).rejects.toMatchObject({ code: "WEFT_START_FAILED", message: expect.stringContaining("the disk is on fire") });
    await threadsSettleAt(before);
  });
});

describe("plain JS service modules", () => {
  it("an .mjs module using defineService from weft, and one exporting a plain start function", async () => {
    const hooks = tempFile("plain.txt");
    const rt = await startRuntime({ servicePath: [plainFixtures, fixtures], hookFile: hooks, greeting: "hi", logger: logFile().path });
    const main = await rt.newService("cli_main");
    expect((await rt.list()).find((r) => r.handle === main)).toMatchObject({ name: "cli_main" });
    const plain = await rt.newServiceOn(2, "cli_plain", hooks);
    expect(await rt.call(plain, "whoami")).toEqual({ address: formatHandle(plain), worker: 2, name: "cli_plain", plain: true });
    await rt.kill(plain);
    await rt.kill(main);
    expect(readLines(hooks).sort()).toEqual(
      expect.arrayContaining([`cli_main ${formatHandle(main)}`, `cli_plain ${formatHandle(plain)}`]),
    );
  });
});
