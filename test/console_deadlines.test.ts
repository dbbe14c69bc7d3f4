/**
 * The console never hangs on a busy thread: with a handler spinning on worker 1 (bounded, so
 * the test ends), every command answers within its deadline, with what the other threads
 * answered and a line naming the thread that did not. Real worker threads, real sockets; the
 * console lives on worker 2, the only thread it cannot do without.
 */
import { existsSync, mkdtempSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { describe, expect, it, onTestFinished } from "vitest";
import { formatHandle } from "weft";
import type DebugConsole from "../services/debug_console.js";
import { ConsoleClient } from "./fixtures/con_client.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";

/** Longer than the 3 s a thread gets and shorter than the 10 s a service gets. */
const SPIN_MS = 7000;
const BUSY = "worker 1: no answer within 3000 ms (busy in a handler? see the log)";

/** Resolves once `path` exists. */
function fileAppears(path: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(join(path, ".."), () => existsSync(path) && done());
    const done = () => (watcher.close(), resolve());
    if (existsSync(path)) done();
  });
}

describe("a thread busy in a handler", () => {
  it("gets each command a deadline: the others' answers, and a line naming worker 1", { timeout: 30_000 }, async () => {
    const rt = await startRuntime({ logger: logFile().path });
    const con = await rt.newServiceOn<typeof DebugConsole>(2, "debug_console", 0);
    const { port } = await rt.call(con, "address");
    const victim = formatHandle(await rt.newServiceOn(1, "con_store", "victim"));
    const spinner = await rt.newServiceOn(1, "con_spin");
    const mark = join(mkdtempSync(join(tmpdir(), "weft-con-spin-")), "spinning");

    rt.send(spinner, "spin", SPIN_MS, mark);
    await fileAppears(mark);
    const spinning = performance.now();
    // One connection per command: they run side by side, each within its own deadline.
    const commands = ["mem", "stat", "gc", "list", `stat ${victim}`, `kill ${victim}`, `call --timeout 500 ${victim} get k`];
    const clients = await Promise.all(commands.map(() => ConsoleClient.connect(port)));
    onTestFinished(() => clients.forEach((c) => c.socket.destroy()));
    const [mem, stat, gc, list, statOne, kill, call] = await Promise.all(commands.map((command, i) => clients[i]!.send(command)));
    // Every answer came while worker 1 was still busy.
    expect(performance.now() - spinning).toBeLessThan(SPIN_MS);

    expect(mem!.ok).toBe(true);
    expect(mem!.lines.map((l) => l.split(/ {2,}/)[0])).toEqual(["thread", "main", "worker 2", BUSY, expect.stringMatching(/^rss /), expect.stringMatching(/cannot be measured/)]);
    expect(gc!.ok).toBe(true);
    expect(gc!.lines.map((l) => l.split(/ {2,}/)[0])).toEqual(["thread", "main", "worker 2", BUSY]);
    expect(stat!.ok).toBe(true);
    expect(stat!.lines.at(-1)).toBe(BUSY);
    expect(stat!.lines).toContainEqual(expect.stringMatching(/^:00000002 +launcher /));
    expect(stat!.lines.join("\n")).not.toContain(victim);
    expect(list).toMatchObject({ ok: true, lines: expect.arrayContaining([expect.stringMatching(new RegExp(`^${victim} +con_store +"victim"$`))]) });
    expect(statOne).toEqual({ ok: false, lines: [BUSY] });
    expect(kill).toEqual({
      ok: false,
      lines: [`${BUSY}; the kill stays queued: ${victim} ends once worker 1 is free and its exit hooks ran (a kill once worker 1 has been busy for endlessLoop ms replaces the worker, and its other services, at once)`],
    });
    expect(call).toEqual({
      ok: false,
      lines: [`${victim} on worker 1, asked "get": no answer within 500 ms (busy in a handler? see the log); the command may still run; call --timeout <ms> waits longer, --timeout 0 as long as it takes`],
    });

    // The kill did wait in worker 1's queue: once the spin is over, the console's next kill,
    // behind it on the same channel, finds no service.
    await rt.call(spinner, "spin", 0, mark);
    const after = clients[0]!;
    expect(await after.send(`kill ${victim}`)).toEqual({ ok: false, lines: [`no service at ${victim}`] });
    expect(await after.send("gc")).toMatchObject({ ok: true, lines: [expect.anything(), expect.anything(), expect.anything(), expect.stringMatching(/^worker 2 /)] });
  });

  it("kill, once the thread has been busy past endlessLoop, ends the service at once by replacing the worker", { timeout: 30_000 }, async () => {
    // stuckWorker 0: the runtime never replaces the worker by itself; only the console's kill does.
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 1000, stuckWorker: 0 });
    const con = await rt.newServiceOn<typeof DebugConsole>(2, "debug_console", 0);
    const { port } = await rt.call(con, "address");
    const victim = await rt.newServiceOn(1, "con_store", "victim");
    const spinner = await rt.newServiceOn(1, "con_spin");
    const mark = join(mkdtempSync(join(tmpdir(), "weft-con-spin-")), "spinning");

    rt.send(spinner, "spin", 10_000, mark);
    await log.waitFor(new RegExp(`^\\[${formatHandle(spinner)}\\] A message .* has run for \\d+ ms on worker 1: maybe an endless loop$`));
    const c = await ConsoleClient.connect(port);
    onTestFinished(() => void c.socket.destroy());
    const asked = performance.now();
    expect(await c.send(`kill ${formatHandle(victim)}`)).toEqual({ ok: true, lines: [`${formatHandle(victim)} killed`] });
    expect(performance.now() - asked).toBeLessThan(3000);
    expect((await rejectionOf(rt.call(victim, "args"))).code).toMatch(/^WEFT_(WORKER_LOST|NO_SUCH_SERVICE)$/);
  });
});
