/**
 * Supervision (issue 11, point 1): a service launched with a restart policy is started again
 * when it ends the way its policy names, keeps its registered name and what it remembered, and
 * too many restarts in a window stop the node. Real worker threads; workers die for real.
 */
import { describe, expect, it } from "vitest";
import { formatHandle, WorkerLostError, type Handle } from "weft";
import { slotOf } from "weft/internal";
import { ConsoleClient } from "./fixtures/con_client.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";

interface WhoAmI {
  address: string;
  worker: number;
  restarts: number;
  starts: number;
  remembered: Record<string, unknown>;
}

describe("a permanent service", () => {
  it("is started again when its worker dies, under its registered name, with what it remembered", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const first = await rt.newServiceWith({ restart: "permanent", worker: 2 }, "sup_worker", ".sup");
    await rt.call(first, "note", "colour", "blue");
    const bystander = await rt.newServiceOn(2, "sup_worker");

    rt.send(bystander, "exitProcess", 3);
    const line = await log.waitFor(/restarted sup_worker \(permanent\) as :/);
    const second = await rt.queryName(".sup");

    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(line).toContain(formatHandle(second!));
    expect(line).toContain(`after ${formatHandle(first)} ended (worker 2 lost`);
    const me = (await rt.call(second!, "whoami")) as WhoAmI;
    expect(me).toMatchObject({ restarts: 1, starts: 2, remembered: { colour: "blue", starts: 1 } });
    // The launcher lists the new instance with its count, and the lost one with where it went.
    const record = (await rt.list()).find((r) => r.handle === second);
    expect(record).toMatchObject({ name: "sup_worker", restart: "permanent", restarts: 1 });
    const lost = await rt.lost();
    expect(lost.find((r) => r.handle === first)).toMatchObject({ restartedAs: formatHandle(second!) });
    // The bystander was temporary: lost, not restarted.
    expect(lost.find((r) => r.handle === bystander)?.restartedAs).toBeUndefined();
    expect((await rt.list()).filter((r) => r.name === "sup_worker")).toHaveLength(1);
  });

  it("shows in the console's list with its policy and restarts, and its lost instance with where it went", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const con = await rt.newServiceOn(1, "debug_console", 0);
    const { port } = (await rt.call(con, "address")) as { port: number };
    const first = await rt.newServiceWith({ restart: "permanent", worker: 2 }, "sup_worker", ".shown");
    rt.send(await rt.newServiceOn(2, "sup_worker"), "exitProcess", 6);
    await log.waitFor(/restarted sup_worker \(permanent\)/);
    const second = (await rt.queryName(".shown"))!;

    const c = await ConsoleClient.connect(port);
    try {
      const lines = await c.ok("list");
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${formatHandle(second)}  sup_worker +".shown"  \\[permanent, restarts 1\\]$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^lost ${formatHandle(first)} sup_worker \\(.*code: 6\\), restarted as ${formatHandle(second)}$`)));
    } finally {
      c.socket.destroy();
    }
  });

  it("is started again after it exits by itself, and after a kill", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const first = await rt.newServiceWith({ restart: "permanent" }, "sup_worker", ".again");

    await rt.call(first, "quit");
    await log.waitFor(/restarted sup_worker .* after .* ended \(exit\)/);
    const second = (await rt.queryName(".again"))!;
    expect(second).not.toBe(first);

    expect(await rt.kill(second)).toBe(true);
    await log.waitFor(/ended \(killed\)/);
    const third = (await rt.queryName(".again"))!;
    expect([first, second]).not.toContain(third);
    expect(((await rt.call(third, "whoami")) as WhoAmI).restarts).toBe(2);
  });

  it("keeps a name it registered after its start, when it is killed", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const first = await rt.newServiceWith({ restart: "permanent" }, "sup_worker");
    await rt.call(first, "takeName", ".later");
    expect(await rt.queryName(".later")).toBe(first);

    await rt.kill(first);
    await log.waitFor(/restarted sup_worker/);

    const second = await rt.queryName(".later");
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(((await rt.call(".later", "whoami")) as WhoAmI).address).toBe(formatHandle(second!));
  });

  it("started by uniqueService stays the unique one after a restart", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const first = await rt.newServiceWith({ restart: "permanent", unique: true, worker: 1 }, "sup_worker");
    expect(await rt.uniqueService("sup_worker")).toBe(first);

    const bystander = await rt.newServiceOn(1, "sup_worker");
    rt.send(bystander, "exitProcess", 4);
    await log.waitFor(/restarted sup_worker/);

    const second = await rt.uniqueService("sup_worker");
    expect(second).not.toBe(first);
    expect(await rt.queryService("sup_worker")).toBe(second);
  });
});

describe("a temporary unique service", () => {
  it("that exits is not restarted, and the next uniqueService starts a new one", async () => {
    const rt = await startRuntime();
    const first = await rt.uniqueService("sup_worker");
    const watcher = await rt.newServiceOn(1, "sup_watcher");
    await rt.call(watcher, "monitor", first);
    await rt.call(first, "quit");
    // The launcher has heard of the exit once the monitor has.
    await rt.call(watcher, "seen", 1);

    const second = await rt.uniqueService("sup_worker");
    expect(second).not.toBe(first);
    expect(((await rt.call(second, "whoami")) as WhoAmI).restarts).toBe(0);
  });
});

describe("a transient service", () => {
  it("is started again after a kill, not after its own exit", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const first = await rt.newServiceWith({ restart: "transient" }, "sup_worker", ".tr");

    await rt.kill(first);
    await log.waitFor(/restarted sup_worker \(transient\)/);
    const second = (await rt.queryName(".tr"))!;

    await rt.call(second, "quit");
    // The exit is normal: the launcher forgets it and starts nothing. Proof that nothing is on
    // its way: a later restart line would come after this service's own one.
    const marker = await rt.newServiceWith({ restart: "permanent" }, "sup_worker");
    await rt.kill(marker);
    await log.waitFor(new RegExp(`after ${formatHandle(marker)} ended`));
    expect(log.lines().filter((l) => l.includes("restarted sup_worker (transient)"))).toHaveLength(1);
    expect(await rt.queryName(".tr")).toBeUndefined();
  });
});

describe("restart intensity", () => {
  it("stops the node with a clear line once a service restarts more often than allowed", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, restartIntensity: 2, restartPeriod: 60_000 });
    await rt.newServiceWith({ restart: "permanent" }, "sup_worker", undefined, { exitAtStart: true });

    const report = await rt.stopped();

    expect(report.reason).toBe("fatal");
    expect(report.message).toMatch(/restart intensity reached: .*sup_worker.* more than 2 restarts within 60000 ms/);
    expect(log.lines().filter((l) => l.includes("restarted sup_worker"))).toHaveLength(2);
    expect(log.lines().some((l) => l.includes("Stopping the node (exit code 1)"))).toBe(true);
  });
});

describe("a restart that fails", () => {
  it("is tried again until the intensity gives up, and the node stops", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, restartIntensity: 3, restartPeriod: 60_000 });
    const first = await rt.newServiceWith({ restart: "permanent" }, "sup_worker", ".fails", { failOnRestart: true });

    await rt.kill(first);
    const report = await rt.stopped();

    expect(report.reason).toBe("fatal");
    const failures = log.lines().filter((l) => l.includes("could not restart sup_worker"));
    expect(failures.length).toBe(3);
    expect(failures[0]).toContain("cannot start again (restart 1)");
    expect(failures[2]).toContain("cannot start again (restart 3)");
    expect(report.message).toMatch(/more than 3 restarts within 60000 ms/);
  });
});

describe("a stuck worker", () => {
  it("is terminated past stuckWorker: its callers get WorkerLostError and its permanent services come back", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 200, stuckWorker: 600 });
    const keeper = await rt.newServiceWith({ restart: "permanent", worker: 2 }, "sup_worker", ".keeper");
    const looper = await rt.newServiceOn(2, "sup_worker");
    const waiting = rejectionOf(rt.call(keeper, "hold"));

    const began = Date.now();
    rt.send(looper, "loop");
    const err = await waiting;
    const recovered = Date.now() - began;

    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.message).toMatch(/past the stuckWorker limit of 600 ms/);
    // Warned at endlessLoop, terminated past stuckWorker, within a check interval of it.
    expect(recovered).toBeGreaterThanOrEqual(600);
    expect(recovered).toBeLessThan(600 + 1500);
    await log.waitFor(/maybe an endless loop/);
    await log.waitFor(/restarted sup_worker \(permanent\)/);
    const back = (await rt.queryName(".keeper"))!;
    expect(slotOf(back)).toBe(2);
    expect(((await rt.call(back, "whoami")) as WhoAmI).restarts).toBe(1);
  });

  it("is terminated at once when a service on it is killed, instead of the kill hanging", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, endlessLoop: 200, stuckWorker: 0 });
    const looper = await rt.newServiceOn(1, "sup_worker");
    const neighbour = await rt.newServiceOn(1, "sup_worker");
    const waiting = rejectionOf(rt.call(neighbour, "hold"));
    rt.send(looper, "loop");
    await log.waitFor(/maybe an endless loop/);

    expect(await rt.kill(looper)).toBe(true);

    expect(await waiting).toBeInstanceOf(WorkerLostError);
    expect(await log.waitFor(/terminating worker 1/)).toContain(`kill ${formatHandle(looper)}`);
    const fresh = await rt.newServiceOn(1, "echo");
    expect(await rt.call(fresh, "echo", "alive")).toBe("alive");
  });
});

describe("shutdown", () => {
  it("says which services did not stop when a worker is stuck", async () => {
    const rt = await startRuntime({ endlessLoop: 1000, stuckWorker: 0 });
    const looper = await rt.newServiceOn(2, "sup_worker");
    const fine = await rt.newServiceOn(1, "sup_worker");
    rt.send(looper, "loop");
    await rt.call(fine, "whoami");

    const report = await rt.stop();

    expect(report.reason).toBe("stop");
    expect(report.unstopped).toEqual([`${formatHandle(looper)} sup_worker`]);
  });
});

describe("monitors and load watches", () => {
  it("svc.monitor hears an exit, a kill and a worker lost, once each, with the reason", async () => {
    const rt = await startRuntime();
    const watcher = await rt.newServiceOn(1, "sup_watcher");
    const quitter = await rt.newServiceOn(1, "sup_worker");
    const killed = await rt.newServiceOn(2, "sup_worker");
    const lostOne = await rt.newServiceOn(2, "sup_worker");
    for (const target of [quitter, killed, lostOne]) await rt.call(watcher, "monitor", target);

    await rt.call(quitter, "quit");
    await rt.kill(killed);
    const killer = await rt.newServiceOn(2, "sup_worker");
    rt.send(killer, "exitProcess", 5);
    const { downs } = (await rt.call(watcher, "seen", 3)) as { downs: { target: Handle; reason: string }[] };

    expect(downs).toEqual([
      { target: quitter, reason: "exit" },
      { target: killed, reason: "killed" },
      { target: lostOne, reason: expect.stringMatching(/^worker 2 lost: .*code: 5/) },
    ]);
    // A service that is not running is reported down at once.
    await rt.call(watcher, "monitor", quitter);
    expect(((await rt.call(watcher, "seen", 4)) as { downs: unknown[] }).downs[3]).toEqual({ target: quitter, reason: "not running" });
  });

  it("a watcher that exits is forgotten by the service it watched", async () => {
    const rt = await startRuntime();
    // On the target's thread, so that the forgetting is in order with what the test asks after.
    const target = await rt.newServiceOn(2, "sup_worker");
    const watchers = [await rt.newServiceOn(2, "sup_watcher"), await rt.newServiceOn(2, "sup_watcher")];
    for (const w of watchers) await rt.call(w, "watch", target, 8);
    const task = async () => ((await rt.rawCall(target, "debug", { cmd: "task" })) as { loadWatchers: number }).loadWatchers;
    expect(await task()).toBe(2);

    // kill answers once the exit has run.
    for (const w of watchers) expect(await rt.kill(w)).toBe(true);

    expect(await task()).toBe(0);
  });

  it("svc.watchMailbox says full at the mark (running async handlers count) and not full at half of it", async () => {
    const rt = await startRuntime();
    const watcher = await rt.newServiceOn(1, "sup_watcher");
    const target = await rt.newServiceOn(2, "sup_worker");
    await rt.call(watcher, "watch", target, 8);

    for (let i = 0; i < 8; i++) rt.send(target, "hold");
    const full = (await rt.call(watcher, "seen", 0, 1)) as { loads: { full: boolean }[] };
    expect(full.loads).toEqual([{ target, full: true }]);

    expect(await rt.call(target, "release")).toBe(8);
    const drained = (await rt.call(watcher, "seen", 0, 2)) as { loads: { full: boolean }[] };
    expect(drained.loads).toEqual([
      { target, full: true },
      { target, full: false },
    ]);
  });
});
