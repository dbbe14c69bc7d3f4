/**
 * One way to start a runtime in a test: real worker threads, fixture services from
 * test/fixtures (compiled to dist/test/fixtures), and always stopped afterwards.
 */
import { mkdtempSync, readFileSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, onTestFinished } from "vitest";
import { Runtime, type RuntimeConfig } from "weft";

export const fixtures = fileURLToPath(new URL("../dist/test/fixtures/", import.meta.url));
export const examples = fileURLToPath(new URL("../dist/examples/", import.meta.url));

/** A runtime for one test: stopped when the test finishes, pass or fail. */
export async function startRuntime(config: RuntimeConfig = {}): Promise<Runtime> {
  const rt = await Runtime.start({ thread: 2, servicePath: fixtures, start: null, ...config });
  onTestFinished(async () => {
    await rt.stop();
  });
  return rt;
}

/** A runtime shared by the tests of one file (or describe block). */
export function useRuntime(config: RuntimeConfig = {}): () => Runtime {
  let rt: Runtime | undefined;
  beforeAll(async () => {
    rt = await Runtime.start({ thread: 2, servicePath: fixtures, start: null, ...config });
  });
  afterAll(async () => {
    await rt?.stop();
  });
  return () => {
    if (!rt) throw new Error("runtime not started");
    return rt;
  };
}

/** A fresh file for config `logger`, and a way to wait for a line in it. */
export function logFile(): { path: string; waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>; lines(): string[] } {
  const path = join(mkdtempSync(join(tmpdir(), "weft-log-")), "weft.log");
  const lines = (): string[] => {
    try {
      return readFileSync(path, "utf8").split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const waitFor = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const found = () => lines().find((line) => pattern.test(line));
      const hit = found();
      if (hit) return resolve(hit);
      const dir = join(path, "..");
      const watcher = watch(dir, () => {
        const line = found();
        if (line) done(() => resolve(line));
      });
      const timer = setTimeout(() => done(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; log:\n${lines().join("\n")}`))), timeoutMs);
      const done = (then: () => void) => {
        clearTimeout(timer);
        watcher.close();
        then();
      };
      // The line may have landed between the first read and the watch.
      const late = found();
      if (late) done(() => resolve(late));
    });
  return { path, waitFor, lines };
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string; cause?: any }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** mulberry32, a tiny seeded PRNG: a failing fuzz run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The watchdog example (examples/main) with every port 0 (any free one) and its log in a file;
 * `portOf(pattern)` waits for the log line matching `pattern` and reads the port it captured.
 */
export async function startExample(config: Record<string, unknown> = {}) {
  const log = logFile();
  const rt = await startRuntime({ servicePath: examples, start: "main", port: 0, wsport: 0, web: 0, console: 0, logger: log.path, ...config });
  const portOf = async (pattern: RegExp) => Number(pattern.exec(await log.waitFor(pattern))![1]);
  return { rt, log, portOf };
}
