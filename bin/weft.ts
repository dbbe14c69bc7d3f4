#!/usr/bin/env node
/**
 * `weft <config> [key=value ...]`: starts a runtime, as `./skynet config` does. SIGINT or
 * SIGTERM stops it cleanly (exit hooks run, sockets close) with exit code 0. It exits with
 * code 1 when supervision gives up (too many restarts), so that systemd or a container restarts
 * the node, and when a shutdown could not end every service (a stuck worker).
 */
import { loadConfigFile, Runtime, WeftError } from "weft";

const usage = "usage: weft <config.json|config.js> [key=value ...]";

async function main(argv: string[]): Promise<number> {
  const [file, ...overrides] = argv;
  if (!file || file === "-h" || file === "--help") {
    console.error(usage);
    return file ? 0 : 2;
  }
  const config = await loadConfigFile(file, overrides);
  // Listened for before the start: a signal that comes while services start stops it after.
  const signalled = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const runtime = await Runtime.start(config);
  await Promise.race([signalled, runtime.stopped()]);
  // A second signal while stopping means "now".
  const force = () => process.exit(130);
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  const report = await runtime.stop();
  if (report.reason === "fatal") process.stderr.write(`weft: ${report.message}\n`);
  if (report.unstopped.length > 0) process.stderr.write(`weft: these services did not stop: ${report.unstopped.join(", ")}\n`);
  return report.reason === "fatal" || report.unstopped.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const text = err instanceof WeftError ? `weft: ${err.message}` : `weft: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    const cause = err instanceof Error && err.cause instanceof Error ? `\n  caused by: ${err.cause.stack ?? err.cause.message}` : "";
    process.stderr.write(`${text}${cause}\n`);
    process.exitCode = 1;
  },
);
