/**
 * Worker death (DESIGN.md: a worker that dies does not take the runtime down). A service can
 * take its whole worker thread with it: process.exit, running out of heap, or a handler stuck in
 * an endless loop, which the kernel terminates past `stuckWorker` ms. (An exception outside any
 * handler no longer does: see test/contained.test.ts.) Then calls in flight to that worker fail instead of hanging, the worker is
 * replaced, the lost services are listed with a reason, and the other worker carries on.
 */
import { describe, expect, it } from "vitest";
import { formatHandle, NoSuchServiceError, WorkerLostError, type RuntimeConfig } from "weft";
import { slotOf } from "weft/internal";
import type { Outcome } from "./fixtures/fault_thrower.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";


interface Death {
  what: string;
  /** The fault_crasher command that kills the worker, and its arguments. */
  command: string;
  args: unknown[];
  config?: RuntimeConfig;
  /** What the lost services' reason must say. */
  reason: RegExp;
}

const deaths: Death[] = [
  { what: "a handler stuck in an endless loop, past stuckWorker", command: "loop", args: [], config: { endlessLoop: 200, stuckWorker: 600 }, reason: /stuckWorker limit of 600 ms/ },
  { what: "process.exit(1) inside a service", command: "exitProcess", args: [1], reason: /code:? 1\b/ },
  { what: "running out of heap under workerHeapMb: 64", command: "hog", args: [], config: { workerHeapMb: 64 }, reason: /memory/i },
];

describe.each(deaths)("a worker killed by $what", ({ command, args, config, reason }) => {
  it("fails calls in flight with WorkerLostError, is replaced, lists what was lost, and spares the other worker", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path, ...config });
    // Worker 2 dies; worker 1 carries on.
    const victim = await rt.newServiceOn(2, "fault_crasher");
    const neighbour = await rt.newServiceOn(2, "fault_crasher");
    const survivor = await rt.newServiceOn(1, "fault_crasher");
    const prober = await rt.newServiceOn(1, "fault_thrower");
    await rt.call(survivor, "keep", { state: "kept" });

    const fromMain = rejectionOf(rt.call(victim, "hang"));
    const toNeighbour = rejectionOf(rt.call(neighbour, "hang"));
    const fromService = rt.call(prober, "probe", victim, "hang") as Promise<Outcome>;
    await rt.call(victim, "hanging", 2);
    await rt.call(neighbour, "hanging", 1);

    rt.send(victim, command, ...args);

    // Nothing hangs: every call to worker 2 fails, naming the service and the command.
    const err = await fromMain;
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err).toMatchObject({ code: "WEFT_WORKER_LOST" });
    expect(err.message).toContain(formatHandle(victim));
    expect(err.message).toContain('"hang"');
    expect(err.message).toMatch(reason);
    const other = await toNeighbour;
    expect(other).toBeInstanceOf(WorkerLostError);
    expect(other.message).toContain(formatHandle(neighbour));
    const outcome = await fromService;
    expect(outcome).toMatchObject({ ok: false, name: "WorkerLostError", code: "WEFT_WORKER_LOST", weft: true });
    expect(outcome.message).toContain(formatHandle(victim));

    // The log says so.
    expect(await log.waitFor(/worker 2 died/)).toMatch(reason);

    // The launcher lists the lost services, with the reason.
    const lost = await rt.lost();
    expect(lost.map((r) => r.handle).sort()).toEqual([victim, neighbour].sort());
    for (const record of lost) {
      expect(record).toMatchObject({ name: "fault_crasher", worker: 2, address: formatHandle(record.handle) });
      expect(record.reason).toMatch(reason);
    }
    const listed = (await rt.list()).map((r) => r.handle);
    expect(listed).not.toContain(victim);
    expect(listed).not.toContain(neighbour);
    expect(listed).toContain(survivor);

    // Worker 2 is replaced: a new service starts there and answers, with a handle never used before.
    const fresh = await rt.newServiceOn(2, "echo");
    expect(await rt.call(fresh, "whoami")).toEqual({ address: formatHandle(fresh), worker: 2 });
    expect(fresh).toBeGreaterThan(Math.max(victim, neighbour));
    expect(rt.workers().sort()).toEqual([1, 2]);
    // The dead address now names no service at all.
    await expect(rt.call(victim, "whoami")).rejects.toBeInstanceOf(NoSuchServiceError);

    // Worker 1 was not touched: its services kept their state and can reach the new worker.
    expect(await rt.call(survivor, "kept")).toEqual({ state: "kept" });
    expect(await rt.call(prober, "probe", fresh, "echo", "across")).toEqual({ ok: true, value: "across" });
  });
});

describe("a worker that dies again and again", () => {
  // Each round starts the next victim as soon as the last one's caller has been told: the
  // replacement must take it at once, however the kernel's news and the launch request race.
  it("is replaced each time, takes a new service at once, and every service lost on it is listed", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const victims: number[] = [];
    for (let round = 1; round <= 5; round++) {
      const victim = await rt.newServiceOn(2, "fault_crasher");
      victims.push(victim);
      const pending = rejectionOf(rt.call(victim, "hang"));
      await rt.call(victim, "hanging", 1);
      rt.send(victim, "exitProcess", round);
      const err = await pending;
      expect(err).toBeInstanceOf(WorkerLostError);
      expect(err.message).toContain(`code: ${round}`);
    }
    const fresh = await rt.newServiceOn(2, "echo");
    expect(await rt.call(fresh, "whoami")).toEqual({ address: formatHandle(fresh), worker: 2 });
    expect((await rt.lost()).map((r) => r.handle)).toEqual(victims);
    expect(log.lines().filter((line) => line.includes("worker 2 died"))).toHaveLength(5);
  });
});

/**
 * The runtime's own services (the logger and the launcher) live on the main thread, which no
 * worker's death can take: right after a worker dies, the launcher still answers, remembers
 * what was lost and which services are unique, and the death is in the log file.
 */
describe("the runtime's own services outlive any worker", () => {
  /** Kills the worker that does not host the unique service, with a call in flight to it. */
  async function loseAWorker() {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const unique = await rt.uniqueService("fault_crasher");
    const kept = slotOf(unique);
    const lostWorker = kept === 1 ? 2 : 1;
    const survivor = await rt.newServiceOn(kept, "fault_crasher");
    await rt.call(survivor, "keep", "still here");
    const victim = await rt.newServiceOn(lostWorker, "fault_crasher");
    const pending = rejectionOf(rt.call(victim, "hang"));
    await rt.call(victim, "hanging", 1);
    rt.send(victim, "exitProcess", 40 + lostWorker);
    const err = await pending;
    return { rt, log, unique, survivor, victim, err, lostWorker };
  }

  it("fails calls in flight with WorkerLostError, spares the other worker, and starts services on the replacement at once", async () => {
    const { rt, survivor, victim, err, lostWorker } = await loseAWorker();

    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.message).toContain(formatHandle(victim));
    expect(await rt.call(survivor, "kept")).toBe("still here");
    const fresh = await rt.newServiceOn(lostWorker, "echo");
    expect(await rt.call(fresh, "whoami")).toEqual({ address: formatHandle(fresh), worker: lostWorker });
  });

  it("lists the survivors, not the lost, and keeps the lost ones with their reason", async () => {
    const { rt, unique, survivor, victim, lostWorker } = await loseAWorker();

    const listed = (await rt.list()).map((r) => r.handle);
    expect(listed).toContain(survivor);
    expect(listed).toContain(unique);
    expect(listed).not.toContain(victim);
    const lost = await rt.lost();
    expect(lost.map((r) => r.handle)).toContain(victim);
    expect(lost.find((r) => r.handle === victim)?.reason).toContain(`code: ${40 + lostWorker}`);
  });

  it("writes the death to the configured log file", async () => {
    const { log, lostWorker } = await loseAWorker();

    expect(await log.waitFor(new RegExp(`worker ${lostWorker} died`))).toContain(`code: ${40 + lostWorker}`);
  });

  it("keeps a unique service unique", async () => {
    const { rt, unique } = await loseAWorker();

    expect(await rt.uniqueService("fault_crasher")).toBe(unique);
    expect(await rt.queryService("fault_crasher")).toBe(unique);
  });
});
