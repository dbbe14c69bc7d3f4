/**
 * Hosts linked by real rings in one thread (harness.ts): calls, order, errors and the client
 * protocol's reply lane, end to end through records and rings, without worker threads.
 */
import { describe, expect, it } from "vitest";
import { formatHandle, NoSuchServiceError, NotRunningError, RemoteError, WorkerLostError } from "weft";
import { hostHandle, PROTO, type Transport } from "weft/internal";
import { loopback } from "./harness.js";

describe("the loopback harness", () => {
  it("leaves no MessagePort open once closed", async () => {
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;
    const before = ports();
    const lb = loopback({ workers: 3, kernel: true });
    const echo = await lb.launchModule(2, "msg_echo");
    expect(await lb.call(1, echo, "echo", "hi")).toBe("hi");
    expect(ports()).toBeGreaterThan(before);
    await lb.close();
    expect(ports()).toBe(before);
  });

  it("says there is no kernel when a service needs one", async () => {
    const lb = loopback();
    const named = await lb.launch(1, (svc) => ({ register: () => svc.register("x") }));
    const err = await lb.call(1, named, "register").catch((e: unknown) => e);
    // The service's own call failed with NotRunningError, which keeps its class through the handler that threw it.
    expect(err).toBeInstanceOf(NotRunningError);
    expect((err as Error).message).toMatch(/the loopback has no kernel \(slot 0\): system request "register"/);
    const direct = await lb.host(1).askKernel({ op: "queryName", name: "x" }).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(NotRunningError);
  });

  it("with kernel: true, names registered on one host resolve on the others, and are dropped on exit", async () => {
    const lb = loopback({ kernel: true });
    const named = await lb.launch(2, (svc) => ({ register: (name: string) => svc.register(name) }));
    await lb.call(1, named, "register", ".db");
    expect(lb.host(1).names.get(".db")).toBe(named);
    expect(await lb.host(1).askKernel({ op: "queryName", name: ".db" })).toBe(named);
    await lb.service(named).exit("test");
    expect(lb.host(1).names.has(".db")).toBe(false);
  });
});

describe("over the loopback", () => {
  it("a call crosses to another host and its answer comes back", async () => {
    const lb = loopback();
    const echo = await lb.launchModule(2, "msg_echo");
    expect(echo >>> 24).toBe(2);
    expect(await lb.call(1, echo, "echo", { nested: [1, "two", { three: 3n }] })).toEqual({ nested: [1, "two", { three: 3n }] });
    expect(await lb.call(1, echo, "args", 1, "a", null, true, Buffer.from([1, 2]))).toEqual([1, "a", null, true, Buffer.from([1, 2])]);
    // And a service on host 1 calling one on host 2, from inside the runtime.
    const relay = await lb.launchModule(1, "msg_echo");
    expect(await lb.call(1, relay, "relay", echo, "whoami")).toMatchObject({ handle: echo, worker: 2 });
  });

  it("10,000 sends arrive in order, and a call behind them finds them all", async () => {
    const lb = loopback({ ringBytes: 4096 }); // small rings: the writer's backlog and fragments take part
    const seen: number[] = [];
    const sink = await lb.launch(2, () => ({
      seq: (i: number) => void seen.push(i),
      count: () => seen.length,
    }));
    const source = await lb.launch(1, (svc) => ({
      async flood(n: number) {
        for (let i = 0; i < n; i++) svc.send(sink, "seq", i);
        return svc.call(sink, "count");
      },
    }));
    expect(await lb.call(1, source, "flood", 10_000)).toBe(10_000);
    expect(seen.length).toBe(10_000);
    expect(seen.every((v, i) => v === i)).toBe(true);
  });

  it("a handler's throw reaches the caller on the other host as a RemoteError keeping name, message, code and cause", async () => {
    const lb = loopback();
    const thrower = await lb.launch(2, () => ({
      fail() {
        const err = new RangeError("out of range", { cause: new Error("deeper") });
        (err as { code?: string }).code = "E_MINE";
        throw err;
      },
      async failLater() {
        await Promise.resolve();
        throw new TypeError("later");
      },
    }));
    const err = (await lb.call(1, thrower, "fail").catch((e: unknown) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.code).toBe("WEFT_REMOTE_ERROR");
    expect(err.message).toContain(`${formatHandle(thrower)} failed on "fail": out of range`);
    expect(err.cause).toMatchObject({ name: "RangeError", message: "out of range", code: "E_MINE", cause: { message: "deeper" } });
    expect((err.cause as Error).stack).toContain("out of range");
    await expect(lb.call(1, thrower, "failLater")).rejects.toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { name: "TypeError", message: "later" } });
    // An unknown command is weft's own refusal: it keeps its class across the ring.
    await expect(lb.call(1, thrower, "nope")).rejects.toMatchObject({ name: "UnknownCommandError", code: "WEFT_UNKNOWN_COMMAND" });
  });

  it("a call to a missing service fails with NoSuchServiceError, on another host, on this one, or on a slot that never was", async () => {
    const lb = loopback();
    const missing = (hostHandle(2) | 0x999) >>> 0;
    const err = await lb.call(1, missing, "anything").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoSuchServiceError);
    expect((err as Error).message).toContain(`no service at ${formatHandle(missing)}`);
    await expect(lb.call(1, (hostHandle(1) | 0x999) >>> 0, "x")).rejects.toBeInstanceOf(NoSuchServiceError);
    // Slot 9 is past `thread` (2): no such worker. A slot within it without a route is a lost worker.
    await expect(lb.call(1, (hostHandle(9) | 1) >>> 0, "x")).rejects.toThrow(/there is no worker 9/);
    lb.host(1).routes.delete(2);
    await expect(lb.call(1, (hostHandle(2) | 1) >>> 0, "x")).rejects.toBeInstanceOf(WorkerLostError);
  });

  it("a tagged client-protocol redirect is one-way: the handler gets the connection id as its third argument, and nothing answers", async () => {
    const lb = loopback();
    // Whatever anyone sends to slot 200 is caught here: the redirect names it as the source.
    const caught: { session: number; proto: number }[] = [];
    const spy: Transport = { post: (_dest, _source, session, proto) => void caught.push({ session, proto }) };
    for (const host of lb.hosts.values()) host.routes.set(200, spy);
    const fakeSource = (hostHandle(200) | 1) >>> 0;

    const gate = await lb.launchModule(2, "msg_proto");
    const agent = await lb.launch(1, (svc) => ({
      reply(fd: number, bytes: number[]) {
        svc.redirect(gate, fakeSource, "client", Uint8Array.from(bytes), fd);
      },
      /** The same redirect on the text protocol with a positive session: a call, which is answered. */
      textCall(session: number) {
        svc.redirect(gate, fakeSource, "text", "hello", session);
      },
    }));
    await lb.call(1, agent, "reply", 7, [1, 2, 3]);
    await lb.call(1, agent, "reply", 0x7fffffff, [4]);
    await lb.call(1, agent, "textCall", 5);
    // A call from the agent's host behind the redirects: they have been handled when it answers.
    expect(await lb.call(1, gate, "tagged")).toEqual([
      { session: 7, source: fakeSource, bytes: [1, 2, 3], isCall: false },
      { session: 0x7fffffff, source: fakeSource, bytes: [4], isCall: false },
    ]);
    expect(await lb.call(1, gate, "texts")).toEqual([`hello from ${formatHandle(fakeSource)}`]);
    // Only the text call was answered (the spy would have seen an answer to a tagged message too).
    expect(caught).toEqual([{ session: 5, proto: PROTO.response }]);
    // A connection id must be a positive 31-bit integer.
    await expect(lb.call(1, agent, "reply", 0x80000000, [1])).rejects.toMatchObject({ cause: { code: "WEFT_USAGE" } });
  });

  it("a deferred answer (svc.response) is given once, over the ring; a second answer and an answer to a send are refused", async () => {
    const lb = loopback();
    const holder = await lb.launchModule(2, "msg_proto");
    const held = lb.call(1, holder, "hold");
    const other = lb.call(1, holder, "hold");
    // Both are held: nothing has answered them.
    await expect.poll(() => lb.service(holder).inflight.size).toBe(2);
    expect(await lb.call(1, holder, "release", "first")).toEqual([true, false]);
    expect(await held).toBe("first");
    expect(await lb.call(1, holder, "failHeld", "bad")).toBe(true);
    await expect(other).rejects.toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { message: "bad" } });
    expect(lb.service(holder).inflight.size).toBe(0);
    lb.host(1).system.ctx.send(holder, "respondToSend");
    expect(await lb.call(1, holder, "sendResponder")).toBe(false);
  });

  it("a service's exit fails the calls waiting on it, across the ring, with ServiceExitedError", async () => {
    const lb = loopback();
    const holder = await lb.launchModule(2, "msg_proto");
    const held = lb.call(1, holder, "hold");
    await expect.poll(() => lb.service(holder).inflight.size).toBe(1);
    await lb.service(holder).exit("test");
    await expect(held).rejects.toMatchObject({ name: "ServiceExitedError", code: "WEFT_SERVICE_EXITED" });
    await expect(lb.call(1, holder, "texts")).rejects.toBeInstanceOf(NoSuchServiceError);
  });

  it("a send's error is logged where it was handled", async () => {
    const lb = loopback();
    const thrower = await lb.launch(2, () => ({
      boom() {
        throw new Error("nobody waits for this");
      },
    }));
    lb.host(1).system.ctx.send(thrower, "boom");
    expect(await lb.waitForLog(/nobody waits for this/)).toMatch(new RegExp(`^\\[${formatHandle(thrower)}\\] error in "boom": Error: nobody waits for this`));
  });
});
