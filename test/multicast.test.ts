/**
 * Multicast channels (lib/multicast, multicastd, one deliverer per worker): delivery to
 * subscribers on every worker in publish order, one crossing per worker per publish, exits of
 * publishers and subscribers, deleted channels, unsubscribe.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { EncodeError, multicast, NoSuchChannelError, Runtime, ServiceExitedError, WorkerLostError, type Address, type Channel, type ChannelInfo } from "weft";
import * as internal from "weft/internal";
import type Pub from "./fixtures/mc_pub.js";
import type Sub from "./fixtures/mc_sub.js";
import { fixtures, logFile, rejectionOf, startRuntime, useRuntime } from "./helpers.js";

const shared = useRuntime();

async function pub(rt: Runtime, worker: number) {
  const handle = (await rt.newServiceOn(worker, "mc_pub")) as Address<typeof Pub>;
  return { handle, p: rt.proxy<typeof Pub>(handle) };
}

/** A channel created by a publisher on worker 1 and bound by a second publisher on worker 2. */
async function channelOnBothWorkers(rt: Runtime) {
  const { p: first } = await pub(rt, 1);
  const id = await first.create();
  const { p: second } = await pub(rt, 2);
  await second.bind(id);
  return { id, first, second };
}

async function subs(rt: Runtime, worker: number, n: number, id: number, mutate = false) {
  const handles: Address<typeof Sub>[] = [];
  for (let i = 0; i < n; i++) handles.push(await rt.newServiceOn(worker, "mc_sub"));
  const proxies = handles.map((h) => rt.proxy<typeof Sub>(h));
  await Promise.all(proxies.map((p) => p.subscribe(id, mutate)));
  return { handles, proxies };
}

async function multicastd(rt: Runtime) {
  return rt.proxy<{ info(id: number): ChannelInfo; deliverers(): Record<number, number> }>(await rt.queryService("multicastd"));
}

/** Messages a service has handled, from the runtime's own count (not through its mailbox). */
async function handled(rt: Runtime, handle: number): Promise<number> {
  const stat = (await rt.system(handle >>> 24, { op: "stat", handle })) as { messages: number };
  return stat.messages;
}

describe("delivery", () => {
  it("reaches subscribers on the publisher's worker and on another, every message in publish order", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const near = await subs(rt, 1, 3, id);
    const far = await subs(rt, 2, 3, id);
    await p.burst("a", 500);
    for (const s of [...near.proxies, ...far.proxies]) {
      const got = await s.waitFor(500);
      expect(got.map((m) => m.args)).toEqual(Array.from({ length: 500 }, (_, i) => ["a", i]));
    }
  });

  it("keeps each publisher's order when two publishers on different workers interleave", async () => {
    const rt = shared();
    const { id, first: one, second: two } = await channelOnBothWorkers(rt);
    const all = [...(await subs(rt, 1, 2, id)).proxies, ...(await subs(rt, 2, 2, id)).proxies];
    await Promise.all([one.burst("one", 300), two.burst("two", 300)]);
    for (const s of all) {
      const got = await s.waitFor(600);
      for (const tag of ["one", "two"]) {
        expect(got.filter((m) => m.args[0] === tag).map((m) => m.args[1])).toEqual(Array.from({ length: 300 }, (_, i) => i));
      }
    }
  });

  it("subscribers that subscribe at the same moment on both workers all get a publish made right after", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const handles = await Promise.all(Array.from({ length: 30 }, (_, i) => rt.newServiceOn<typeof Sub>(1 + (i % 2), "mc_sub")));
    const proxies = handles.map((h) => rt.proxy<typeof Sub>(h));
    await Promise.all(proxies.map((s) => s.subscribe(id)));
    await p.publish("now");
    for (const s of proxies) expect((await s.waitFor(1)).map((m) => m.args)).toEqual([["now"]]);
    expect(await p.info()).toEqual({ id, subscribers: 30, workers: { 1: 15, 2: 15 } });
  });

  it("a second subscribe made while the first is still being reported resolves only once the subscription is in place", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const s = rt.proxy<typeof Sub>(await rt.newServiceOn<typeof Sub>(2, "mc_sub"));
    // It publishes "early" as soon as its second subscribe resolves, "late" once the first has.
    await s.subscribeTwice(id);
    expect((await s.waitFor(1))[0].args).toEqual(["early"]);
    expect((await s.waitFor(2)).map((m) => m.args)).toEqual([["early"], ["late"]]);
    expect(await p.info()).toEqual({ id, subscribers: 1, workers: { 2: 1 } });
  });

  it("tells the subscriber who published (svc.source) and gives each subscriber its own copy", async () => {
    const rt = shared();
    const { p, handle } = await pub(rt, 1);
    const id = await p.create();
    // Both on one worker, so they get the same bytes from the same deliverer; the first scribbles on what it got.
    const { proxies } = await subs(rt, 2, 2, id, true);
    await p.publish({ score: 1 }, [1, 2]);
    await p.publishBytes([1, 2, 3]);
    for (const s of proxies) {
      const [first, second] = await s.waitFor(2);
      expect(first!.args).toEqual([{ score: 1 }, [1, 2]]);
      expect([...(second!.args[0] as Uint8Array)]).toEqual([1, 2, 3]);
      expect(first!.source).toBe(handle);
    }
  });

  it("sends one message per worker per publish, however many subscribers live there, and none through multicastd", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const { proxies } = await subs(rt, 2, 40, id);
    const mcd = await multicastd(rt);
    const deliverer = (await mcd.deliverers())[2];
    const mcdHandle = await rt.queryService("multicastd");
    const [before, mcdBefore] = [await handled(rt, deliverer), await handled(rt, mcdHandle)];
    const PUBLISHES = 25;
    await p.burst("x", PUBLISHES);
    for (const s of proxies) expect(await s.waitFor(PUBLISHES)).toHaveLength(PUBLISHES);
    // 25 publishes × 40 subscribers = 1000 deliveries on worker 2 from 25 messages that crossed to it.
    expect((await handled(rt, deliverer)) - before).toBe(PUBLISHES);
    expect((await handled(rt, mcdHandle)) - mcdBefore).toBe(0);
    expect((await mcd.info(id)).workers).toEqual({ 2: 40 });
  });

  it("a channel with no subscribers takes publishes and sends nothing anywhere", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    await subs(rt, 2, 1, await (await pub(rt, 2)).p.create()); // so both workers have a deliverer to watch
    const deliverers = Object.values(await (await multicastd(rt)).deliverers());
    expect(deliverers).toHaveLength(2);
    const before = await Promise.all(deliverers.map((d) => handled(rt, d)));
    await p.burst("nobody", 10);
    expect(await p.info()).toEqual({ id, subscribers: 0, workers: {} });
    expect(await Promise.all(deliverers.map((d) => handled(rt, d)))).toEqual(before);
    // A later subscriber gets only what is published after it subscribed.
    const { proxies } = await subs(rt, 2, 1, id);
    await p.publish("late");
    expect((await proxies[0].waitFor(1)).map((m) => m.args)).toEqual([["late"]]);
  });

  it("refuses an argument that cannot be encoded with EncodeError, and the channel keeps working", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const { proxies } = await subs(rt, 2, 1, id);
    // The publisher's handler threw EncodeError; it reaches us as its cause.
    const err = await rejectionOf(p.publishFunction());
    expect(err.cause).toMatchObject({ name: EncodeError.name, code: "WEFT_ENCODE" });
    await p.publish("after");
    expect((await proxies[0].waitFor(1)).map((m) => m.args)).toEqual([["after"]]);
  });
});

describe("unsubscribe and exits", () => {
  it("unsubscribe stops delivery to that subscriber only", async () => {
    const rt = shared();
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const {
      proxies: [leaving, staying],
    } = await subs(rt, 2, 2, id);
    await p.publish(1);
    await leaving.waitFor(1);
    await leaving.unsubscribe();
    expect(await leaving.subscribed()).toBe(false);
    await p.publish(2);
    // `staying` got 2 from the same deliverer turn that would have handed it to `leaving`,
    // and our call to `leaving` queues behind anything that turn put in its mailbox.
    expect((await staying.waitFor(2)).map((m) => m.args)).toEqual([[1], [2]]);
    expect((await leaving.received()).map((m) => m.args)).toEqual([[1]]);
    expect((await p.info()).subscribers).toBe(1);
  });

  it("drops a subscriber that is killed or exits: the count goes down, the table forgets it, no error is logged", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const {
      handles: [killed, exiting, staying],
      proxies,
    } = await subs(rt, 2, 3, id);
    expect((await p.info()).subscribers).toBe(3);
    expect(await rt.kill(killed)).toBe(true);
    expect(await rt.call(staying, "local", id)).toEqual([exiting, staying]);
    expect(await rejectionOf(proxies[1].quit())).toBeInstanceOf(ServiceExitedError);
    expect(await p.info()).toEqual({ id, subscribers: 1, workers: { 2: 1 } });
    expect(await rt.call(staying, "local", id)).toEqual([staying]);
    await p.burst("after", 5);
    expect(await proxies[2].waitFor(5)).toHaveLength(5);
    await rt.stop();
    expect(log.lines().filter((line) => /error|dropped/i.test(line))).toEqual([]);
  });

  it("keeps a channel working after the publisher that created it exits; another binds it by id", async () => {
    const rt = shared();
    const { p: creator, handle: creatorHandle } = await pub(rt, 1);
    const id = await creator.create();
    const { proxies } = await subs(rt, 2, 2, id);
    await creator.burst("first", 3);
    expect(await rt.kill(creatorHandle)).toBe(true);
    const { p: next } = await pub(rt, 2);
    await next.bind(id);
    await next.burst("second", 2);
    for (const s of proxies) {
      expect((await s.waitFor(5)).map((m) => m.args)).toEqual([
        ["first", 0],
        ["first", 1],
        ["first", 2],
        ["second", 0],
        ["second", 1],
      ]);
    }
  });
});

describe("a worker that dies", () => {
  it("takes its subscribers with it; the replacement worker subscribes afresh and the channel carries on", async () => {
    const rt = await startRuntime({ logger: logFile().path });
    await rt.uniqueService("multicastd"); // on worker 1, which survives
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const { proxies: near } = await subs(rt, 1, 2, id);
    await subs(rt, 2, 3, id);
    expect((await p.info()).workers).toEqual({ 1: 2, 2: 3 });
    const crasher = await rt.newServiceOn(2, "fault_crasher");
    const death = rejectionOf(rt.call(crasher, "hang"));
    await rt.call(crasher, "hanging", 1);
    rt.send(crasher, "exitProcess", 1);
    expect(await death).toBeInstanceOf(WorkerLostError);

    const { proxies: fresh } = await subs(rt, 2, 1, id);
    expect(await p.info()).toEqual({ id, subscribers: 3, workers: { 1: 2, 2: 1 } });
    await p.publish("after");
    for (const s of [...near, ...fresh]) expect((await s.waitFor(1)).at(-1)!.args).toEqual(["after"]);
  });
});

describe("deleted channels", () => {
  it("rejects publish, subscribe and bind with NoSuchChannelError on every worker, and delivers nothing more", async () => {
    const rt = shared();
    const { id, first: owner, second: remote } = await channelOnBothWorkers(rt);
    const { proxies } = await subs(rt, 2, 1, id);
    await owner.publish("before");
    await proxies[0].waitFor(1);
    await owner.delete();

    for (const publisher of [owner, remote]) {
      const err = await rejectionOf(publisher.publish("after"));
      expect(err).toBeInstanceOf(NoSuchChannelError);
      expect(err.code).toBe("WEFT_NO_SUCH_CHANNEL");
      expect(err.message).toMatch(new RegExp(`multicast channel ${id} was deleted`));
    }
    const late = await rt.newServiceOn(1, "mc_sub");
    expect(await rejectionOf(rt.call(late, "subscribe", id))).toBeInstanceOf(NoSuchChannelError);
    expect((await rejectionOf(remote.bind(id))).code).toBe("WEFT_NO_SUCH_CHANNEL");
    expect((await rejectionOf(remote.bind(999_999))).message).toMatch(/multicast channel 999999 does not exist/);
    expect((await rejectionOf(remote.bind(-1))).code).toBe("WEFT_NO_SUCH_CHANNEL");
    expect((await proxies[0].received()).map((m) => m.args)).toEqual([["before"]]);
    expect(await proxies[0].subscribed()).toBe(false);
  });

  it("leaves no handler behind in any subscriber, on any worker, once delete resolves", async () => {
    const rt = shared();
    const { p: owner } = await pub(rt, 1);
    const id = await owner.create();
    const { p: other } = await pub(rt, 2);
    const kept = await other.create();
    const all = [...(await subs(rt, 1, 2, id)).proxies, ...(await subs(rt, 2, 2, id)).proxies];
    await all[0].subscribe(kept);
    expect(await all[0].handlers()).toEqual([id, kept]);
    for (const s of all.slice(1)) expect(await s.handlers()).toEqual([id]);
    expect(await all[2].local(id)).toHaveLength(2);

    await owner.delete();
    expect(await all[0].handlers()).toEqual([kept]);
    for (const s of all.slice(1)) {
      expect(await s.handlers()).toEqual([]);
      expect(await s.subscribed()).toBe(false);
    }
    expect(await all[2].local(id)).toEqual([]);
  });
});

describe("a deliverer that is killed", () => {
  it("takes its worker's subscriptions with it; the next use there starts a new deliverer and the channel carries on", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { p } = await pub(rt, 1);
    const id = await p.create();
    const { proxies: near } = await subs(rt, 1, 1, id);
    const { proxies: far, handles: farHandles } = await subs(rt, 2, 2, id);
    const { p: farPub } = await pub(rt, 2);
    await farPub.bind(id);
    const mcd = await multicastd(rt);
    const killed = (await mcd.deliverers())[2];

    // As from the console: by the time kill resolves, multicastd has dropped worker 2.
    expect(await rt.kill(killed)).toBe(true);
    expect(await p.info()).toEqual({ id, subscribers: 1, workers: { 1: 1 } });
    for (const s of far) {
      expect(await s.subscribed()).toBe(false);
      expect(await s.handlers()).toEqual([]);
    }

    // A publish from worker 2 starts a new deliverer there, which brings the routes.
    await farPub.publish("from 2");
    expect((await near[0].waitFor(1)).map((m) => m.args)).toEqual([["from 2"]]);
    const fresh = (await mcd.deliverers())[2];
    expect(fresh).toBeGreaterThan(0);
    expect(fresh).not.toBe(killed);

    await far[0].subscribe(id);
    expect(await p.info()).toEqual({ id, subscribers: 2, workers: { 1: 1, 2: 1 } });
    expect(await far[0].local(id)).toEqual([farHandles[0]]);
    await p.publish("after");
    expect((await far[0].waitFor(1)).map((m) => m.args)).toEqual([["after"]]);
    expect((await near[0].waitFor(2)).map((m) => m.args)).toEqual([["from 2"], ["after"]]);
    await rt.stop();
    expect(log.lines().filter((line) => /error/i.test(line))).toEqual([]);
  });
});

describe("types", () => {
  it("a channel's type parameter types publish and the handler", () => {
    type Scores = Channel<[name: string, score: number]>;
    expectTypeOf<Parameters<Scores["publish"]>>().toEqualTypeOf<[name: string, score: number]>();
    expectTypeOf<Parameters<Parameters<Scores["subscribe"]>[0]>>().toEqualTypeOf<[name: string, score: number]>();
    expectTypeOf<Scores["id"]>().toEqualTypeOf<number>();
  });

  it("the public multicast namespace has no diagnostics; they come from weft/internal", () => {
    expect(Object.keys(multicast).sort()).toEqual(["Channel", "channel", "create"]);
    expect(internal.multicastLocalSubscribers).toBeTypeOf("function");
    expect(internal.multicastSubscriptions).toBeTypeOf("function");
  });
});

describe("at shutdown", () => {
  it("an exit hook's publish is sent or refused with NotRunningError; nothing new is started", async () => {
    const log = logFile();
    const rt = await Runtime.start({ thread: 2, servicePath: fixtures, start: null, logger: log.path });
    const pubs: Address<typeof Pub>[] = [];
    for (let i = 0; i < 4; i++) pubs.push(await rt.newServiceOn(1 + (i % 2), "mc_pub"));
    const id = await rt.call(pubs[0]!, "create");
    for (const p of pubs.slice(1)) await rt.call(p, "bind", id);
    for (const p of pubs) await rt.call(p, "sayByeOnExit");
    await rt.stop();
    const byes = log.lines().filter((l) => l.includes("bye"));
    expect(byes).toHaveLength(4);
    for (const line of byes) expect(line).toMatch(/bye sent$|bye refused: WEFT_NOT_RUNNING: the runtime is stopping/);
    expect(log.lines().filter((l) => /failed to start|was deleted/.test(l))).toEqual([]);
  });
});
