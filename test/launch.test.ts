/**
 * Connection set-up off the main thread (issue 16, part 6): svc.newService goes straight to the
 * target worker, placed by load counts every thread shares, and the launcher is told after. What
 * the launcher did before must still hold: its list, monitors, exits racing the launch notice.
 */
import { describe, expect, it, vi } from "vitest";
import { ConfigError, formatHandle, ServiceStartError, type Address, type Handle } from "weft";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";
import type Parent from "./fixtures/launch_parent.js";

const workerOf = (handle: Handle) => handle >>> 24;

async function perWorker(rt: Awaited<ReturnType<typeof startRuntime>>): Promise<[number, number]> {
  const counts: [number, number] = [0, 0];
  for (const record of await rt.list()) if (record.worker >= 1) counts[record.worker - 1]++;
  return counts;
}

describe("svc.newService", () => {
  it("goes straight to the target worker: the launcher gets a one-way `launched` notice, never a `launch` call", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    const launcher = (await rt.queryName(".launcher"))!;
    await rt.rawCall(launcher, "debug", { cmd: "logon" });

    const children = await rt.call(parent, "burst", 4);

    await rt.rawCall(launcher, "debug", { cmd: "logoff" });
    const traced = () => log.lines().filter((l) => l.startsWith(`[${formatHandle(launcher)}]`));
    // The logger writes its file as it goes: wait for the four notices to be in it.
    await vi.waitFor(() => expect(traced().filter((l) => l.includes('"launched"'))).toHaveLength(4));
    const told = traced().filter((l) => l.includes('"launched"'));
    // Sent by the hosts (their system endpoints), not by the parent.
    for (const line of told) expect(line).toMatch(/send from :0[12]000000: "launched"/);
    expect(traced().filter((l) => l.includes('"launch"'))).toEqual([]);
    const listed = (await rt.list()).map((r) => r.handle);
    for (const child of children) expect(listed).toContain(child);
  });

  it("spreads a burst placed in one turn over the workers, and a start that fails counts for nothing", async () => {
    const rt = await startRuntime();
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    const [one, two] = await perWorker(rt);

    const children = await rt.call(parent, "burst", 6);

    const [oneAfter, twoAfter] = await perWorker(rt);
    expect(oneAfter + twoAfter).toBe(one + two + 6);
    expect(Math.abs(oneAfter - twoAfter)).toBeLessThanOrEqual(1);
    // Each child placed by the count of the moment: the first to the emptier worker.
    expect(workerOf(children[0]!)).toBe(one <= two ? 1 : 2);

    // Ten failed starts on worker 2 leave its count as it was: the next launch follows the list.
    for (let i = 0; i < 10; i++) {
      const err = await rejectionOf(rt.call(parent, "burst", 1, "launch_no_such_module", 2));
      expect(err).toBeInstanceOf(ServiceStartError);
    }
    const [a, b] = await perWorker(rt);
    const [next] = await rt.call(parent, "burst", 1);
    expect(workerOf(next!)).toBe(a <= b ? 1 : 2);

    // Those that exit are counted out: the counts follow the list again.
    for (const child of [...children, next!]) await rt.call(child, "quit");
    const [c, d] = await perWorker(rt);
    const [last] = await rt.call(parent, "burst", 1);
    expect(workerOf(last!)).toBe(c <= d ? 1 : 2);
  });

  it("is listed by the launcher when asked right after, though its notice took another ring than the answer", async () => {
    const rt = await startRuntime();
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    for (let i = 0; i < 20; i++) {
      const { listed } = await rt.call(parent, "startListed", 2);
      expect(listed).toBe(true);
    }
  });

  it("can be monitored as soon as its launch answered: the monitor fires when it is killed", async () => {
    const rt = await startRuntime();
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    const children: Handle[] = [];
    for (let i = 0; i < 20; i++) children.push(await rt.call(parent, "startWatched", 2));
    for (const child of children) expect(await rt.kill(child)).toBe(true);
    const downs = await rt.call(parent, "downsSeen", 20);
    expect(downs.map((d) => d.target).sort()).toEqual([...children].sort());
    for (const down of downs) expect(down.reason).toBe("killed");
  });

  it("that exits right after its start is never left listed, and its monitor hears once", async () => {
    const rt = await startRuntime();
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    const children: Handle[] = [];
    for (let i = 0; i < 20; i++) children.push(await rt.call(parent, "startWatched", 2, true));
    const downs = await rt.call(parent, "downsSeen", 20);
    // The exit may reach the launcher before or after the notice of the launch: either way
    // the watcher hears once, that it exited or that it is not running.
    expect(downs.map((d) => d.target).sort()).toEqual([...children].sort());
    for (const down of downs) expect(down.reason).toMatch(/^(exit|not running)$/);
    const listed = (await rt.list()).map((r) => r.handle);
    for (const child of children) expect(listed).not.toContain(child);
  });

  it("refuses a worker that does not exist with ConfigError, from a service too", async () => {
    const rt = await startRuntime();
    const parent: Address<typeof Parent> = await rt.newServiceOn(1, "launch_parent");
    const err = await rejectionOf(rt.call(parent, "burst", 1, "launch_child", 3));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/there is no worker 3: workers are 1\.\.2/);
  });
});
