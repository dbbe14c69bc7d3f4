/**
 * Messages between services: FIFO order, calls inside and across workers, isolation of what is
 * sent, the values that survive the trip, raw protocols, redirect, deferred answers and
 * registered protocols.
 */
import { describe, expect, it } from "vitest";
import { EncodeError, formatHandle, type Runtime } from "weft";
import { logFile, startRuntime, useRuntime } from "./helpers.js";

const N = 100_000;

/** Mailboxes of 100,000 trip the overload warning, as they should; keep those lines out of the test output. */
const quietRuntime = () => startRuntime({ logger: logFile().path });

/** The other tests share one runtime: each starts services of its own. */
const shared = useRuntime();

interface Box {
  n: number;
  list: number[];
}

describe("FIFO order", () => {
  it("delivers 100,000 sends in order from a service on one worker to a service on another", async () => {
    const rt = await quietRuntime();
    const sender = await rt.newServiceOn(1, "msg_seq");
    const receiver = await rt.newServiceOn(2, "msg_seq");
    expect(await rt.call(sender, "blast", receiver, N)).toBe(N);
    expect(await rt.call(receiver, "report", N)).toEqual({ received: N, firstOutOfOrder: -1 });
  });

  it("delivers 100,000 sends in order between two services on the same worker", async () => {
    const rt = await quietRuntime();
    const sender = await rt.newServiceOn(2, "msg_seq");
    const receiver = await rt.newServiceOn(2, "msg_seq");
    expect(await rt.call(sender, "blast", receiver, N)).toBe(N);
    expect(await rt.call(receiver, "report", N)).toEqual({ received: N, firstOutOfOrder: -1 });
  });

  it("delivers 100,000 sends in order from the main thread", async () => {
    const rt = await quietRuntime();
    const receiver = await rt.newServiceOn(1, "msg_seq");
    for (let i = 0; i < N; i++) rt.send(receiver, "next", i);
    expect(await rt.call(receiver, "report", N)).toEqual({ received: N, firstOutOfOrder: -1 });
  });
});

describe("calls", () => {
  it("round-trips from the main thread to services on worker 1 and worker 2", async () => {
    const rt = shared();
    const one = await rt.newServiceOn(1, "msg_echo");
    const two = await rt.newServiceOn(2, "msg_echo");
    expect(await rt.call(one, "whoami")).toEqual({ address: formatHandle(one), handle: one, worker: 1 });
    expect(await rt.call(two, "whoami")).toEqual({ address: formatHandle(two), handle: two, worker: 2 });
    expect(await rt.call(two, "echo", { hello: ["world"] })).toEqual({ hello: ["world"] });
  });

  it.each([
    ["on the same worker", 1],
    ["on another worker", 2],
  ])("round-trips from a service to a service %s", async (_where, calleeWorker) => {
    const rt = shared();
    const caller = await rt.newServiceOn(1, "msg_echo");
    const callee = await rt.newServiceOn(calleeWorker, "msg_echo");
    expect(await rt.call(caller, "relay", callee, "whoami")).toEqual({ address: formatHandle(callee), handle: callee, worker: calleeWorker });
    expect(await rt.call(caller, "relay", callee, "args", "a", 2, [3])).toEqual(["a", 2, [3]]);
    // a chain: caller -> relay on the other worker -> callee back on worker 1
    const middle = await rt.newServiceOn(2, "msg_echo");
    expect(await rt.call(caller, "relay", middle, "relay", caller, "echo", "there and back")).toBe("there and back");
  });
});

describe("isolation", () => {
  describe.each([
    ["within one worker", 1],
    ["across workers", 2],
  ])("%s", (_where, otherWorker) => {
    const pair = async (rt: Runtime) => [await rt.newServiceOn(1, "msg_echo"), await rt.newServiceOn(otherWorker, "msg_echo")];

    it("a sender's change to an object after send is not seen by the receiver", async () => {
      const rt = shared();
      const [sender, receiver] = await pair(rt);
      expect(await rt.call(sender, "sendThenMutate", receiver)).toEqual({ n: 1, list: [1] });
    });

    it("handOver gives bytes away uncopied within a worker (a change the sender makes afterwards reaches the receiver: do not); across workers they are copied into the ring as sent; objects are sealed", async () => {
      const rt = shared();
      const [sender, receiver] = await pair(rt);
      const { seen, box } = (await rt.call(sender, "handOverThenMutate", receiver)) as { seen: number[]; box: Box };
      expect(seen).toEqual(otherWorker === 1 ? [9, 2, 3] : [1, 2, 3]);
      expect(box).toEqual({ n: 1, list: [1] });
    });

    it("a caller's change to an argument while the call is in flight is not seen by the callee", async () => {
      const rt = shared();
      const [caller, callee] = await pair(rt);
      expect(await rt.call(caller, "callThenMutate", callee)).toEqual({ n: 1, list: [1] });
    });

    it("a callee's change to its argument is not seen by the caller", async () => {
      const rt = shared();
      const [caller, callee] = await pair(rt);
      expect(await rt.call(caller, "lendToScribbler", callee)).toEqual({ n: 1, list: [1] });
    });

    it("a reply the callee changes after returning stays as it was answered, and the caller's changes stay with the caller", async () => {
      const rt = shared();
      const [caller, callee] = await pair(rt);
      const { before, after } = (await rt.call(caller, "replyThenMutate", callee)) as { before: Box; after: Box };
      expect(after).toEqual(before);
      expect(await rt.call(callee, "held")).toEqual({ n: before.n + 1, list: [...before.list, before.n + 1] });
      const held = (await rt.call(callee, "held")) as Box;
      expect(await rt.call(caller, "mutateReply", callee)).toEqual(held);
    });
  });

  it("the main thread's change to an object after send is not seen by the receiver", async () => {
    const rt = shared();
    const receiver = await rt.newService("msg_echo");
    const box: Box = { n: 1, list: [1] };
    rt.send(receiver, "keep", box);
    box.n = 2;
    box.list.push(2);
    expect(await rt.call(receiver, "kept")).toEqual({ n: 1, list: [1] });
  });
});

describe("values", () => {
  const values: [string, unknown][] = [
    ["integers and floats", [0, -1, 2 ** 53 - 1, -1.5, Number.NaN, Infinity]],
    ["strings", ["", "plain", "ünïcödé ✓ 日本"]],
    ["null and booleans", [null, true, false]],
    ["undefined inside an array", [1, undefined, "three"]],
    ["nested objects and arrays", { a: { b: [1, { c: null, d: [[], {}] }] }, e: "f" }],
    ["a Date", new Date(1_700_000_000_123)],
    ["bigints, small and past 64 bits", [42n, -(2n ** 63n), 2n ** 70n]],
  ];

  it.each([
    ["from the main thread to another worker", "main"],
    ["between two services on one worker", "same"],
  ])("survive a call %s", async (_label, route) => {
    const rt = shared();
    const callee = await rt.newServiceOn(2, "msg_echo");
    const caller = await rt.newServiceOn(2, "msg_echo");
    const roundTrip = (...args: unknown[]) => (route === "main" ? rt.call(callee, "args", ...args) : rt.call(caller, "relay", callee, "args", ...args));
    for (const [label, value] of values) {
      // strict: undefined stays undefined (not null, not a hole), a Date stays a Date
      expect(await roundTrip(value), label).toStrictEqual([value]);
    }
    expect(await roundTrip(...values.map(([, value]) => value))).toStrictEqual(values.map(([, value]) => value));
    expect(await roundTrip(undefined, null)).toStrictEqual([undefined, null]);
    const [date, big] = (await roundTrip(new Date(5), 7n)) as [unknown, unknown];
    expect(date).toBeInstanceOf(Date);
    expect(typeof big).toBe("bigint");
  });

  it("carries Uint8Array and Buffer bytes", async () => {
    const rt = shared();
    const callee = await rt.newServiceOn(2, "msg_echo");
    const caller = await rt.newServiceOn(2, "msg_echo");
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    const buffer = Buffer.from("weft ✓");
    for (const answer of [await rt.call(callee, "args", bytes, buffer), await rt.call(caller, "relay", callee, "args", bytes, buffer)]) {
      const [a, b] = answer as [Uint8Array, Uint8Array];
      expect(a).toBeInstanceOf(Uint8Array);
      expect([...a]).toEqual([...bytes]);
      expect(Buffer.from(b).toString()).toBe("weft ✓");
    }
  });

  it("refuses a function argument with EncodeError (WEFT_ENCODE), from the main thread and from a service", async () => {
    const rt = shared();
    const echo = await rt.newServiceOn(2, "msg_echo");
    const caller = await rt.newServiceOn(1, "msg_echo");
    await expect(rt.call(echo, "args", () => 1)).rejects.toSatisfy((err) => err instanceof EncodeError && err.code === "WEFT_ENCODE");
    expect(() => rt.send(echo, "keep", () => 1)).toThrow(EncodeError);
    expect(await rt.call(caller, "callWithFunction", echo)).toBe("WEFT_ENCODE");
    // the refusals cost nothing: the service is still there
    expect(await rt.call(echo, "echo", "still here")).toBe("still here");
  });

  it("refuses a function nested in an object or array with EncodeError rather than dropping it", async () => {
    const rt = shared();
    const echo = await rt.newServiceOn(2, "msg_echo");
    await expect(rt.call(echo, "args", { onDone() {} })).rejects.toMatchObject({ code: "WEFT_ENCODE" });
    await expect(rt.call(echo, "args", [1, () => 2])).rejects.toMatchObject({ code: "WEFT_ENCODE" });
  });
});

it("a call whose command cannot go into a record fails with EncodeError and leaves no call waiting", async () => {
  const rt = shared();
  const caller = await rt.newServiceOn(1, "msg_echo");
  const callee = await rt.newServiceOn(2, "msg_echo");
  await expect(rt.call(caller, "relay", callee, "x".repeat(70_000))).rejects.toMatchObject({ cause: { code: "WEFT_ENCODE" } });
  expect(((await rt.rawCall(caller, "debug", { cmd: "stat" })) as { calls: number }).calls).toBe(0);
});

describe("raw protocols", () => {
  it("rawCall and rawSend with the text protocol reach the service's text dispatch", async () => {
    const rt = shared();
    const target = await rt.newServiceOn(2, "msg_proto");
    const caller = await rt.newServiceOn(1, "msg_proto");
    expect(await rt.rawCall(target, "text", "hello")).toBe(`${formatHandle(target)} got "hello" from :00000000`);
    expect(await rt.call(caller, "rawCallText", target, "hi")).toBe(`${formatHandle(target)} got "hi" from ${formatHandle(caller)}`);
    rt.rawSend(target, "text", "one-way");
    expect(await rt.call(target, "texts")).toEqual(["hello from :00000000", `hi from ${formatHandle(caller)}`, "one-way from :00000000"]);
  });

  it("rawCall and rawSend with the client protocol carry bytes untouched", async () => {
    const rt = shared();
    const target = await rt.newServiceOn(2, "msg_proto");
    const payload = new Uint8Array([1, 2, 3, 0, 255]);
    const answer = (await rt.rawCall(target, "client", payload)) as Uint8Array;
    expect(answer).toBeInstanceOf(Uint8Array);
    expect([...answer]).toEqual([255, 0, 3, 2, 1]);
    rt.rawSend(target, "client", Buffer.from([9, 8, 7]));
    rt.rawSend(target, "client", payload);
    payload[0] = 100; // after the send: the receiver has its own copy
    expect(await rt.call(target, "bytesSeen")).toEqual([
      [9, 8, 7],
      [1, 2, 3, 0, 255],
    ]);
  });

  it("rejects a raw call on a protocol the service has no dispatch for", async () => {
    const rt = shared();
    const echo = await rt.newService("msg_echo");
    await expect(rt.rawCall(echo, "text", "anyone?")).rejects.toMatchObject({ code: "WEFT_UNKNOWN_PROTOCOL" });
  });

  it("redirect delivers the message as if from the given source, and the answer goes to that source", async () => {
    const rt = shared();
    const target = await rt.newServiceOn(2, "msg_proto");
    const redirector = await rt.newServiceOn(1, "msg_proto");
    const source = await rt.newServiceOn(1, "msg_echo");
    await rt.call(redirector, "redirect", target, source, "on behalf");
    // a call on the same channel as the redirect, so the redirect has arrived when it answers
    await rt.call(redirector, "rawCallText", target, "after");
    expect(await rt.call(target, "texts")).toEqual([`on behalf from ${formatHandle(source)}`, `after from ${formatHandle(redirector)}`]);

    // A relay redirects a text call to the target with the caller as source: the target's answer
    // reaches the caller directly, and the relay never answers.
    const relay = await rt.newServiceOn(1, "msg_proto", target);
    expect(await rt.rawCall(relay, "text", "ping")).toBe(`${formatHandle(target)} got "ping via ${formatHandle(relay)}" from :00000000`);
    const caller = await rt.newServiceOn(2, "msg_proto");
    expect(await rt.call(caller, "rawCallText", relay, "pong")).toBe(`${formatHandle(target)} got "pong via ${formatHandle(relay)}" from ${formatHandle(caller)}`);
  });

  it("redirect on the client protocol carries a connection id in the session, one-way: the handler gets it as its third argument, and svc.isCall is false", async () => {
    const rt = shared();
    const gate = await rt.newServiceOn(2, "msg_proto");
    const agent = await rt.newServiceOn(1, "msg_proto");
    await rt.call(agent, "redirectClient", gate, 7, [1, 2, 3]);
    await rt.call(agent, "redirectClient", gate, 0x7fffffff, [4]);
    await expect(rt.call(agent, "redirectClient", gate, -1, [5])).rejects.toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { code: "WEFT_USAGE" } });
    // A call on the same channel: the redirects have arrived when it answers.
    await rt.call(agent, "rawCallText", gate, "after");
    // A call on the client protocol is still a call (svc.isCall tells them apart), answered as one.
    expect([...((await rt.rawCall(gate, "client", new Uint8Array([8, 9]))) as Uint8Array)]).toEqual([9, 8]);
    const [first, second, call] = (await rt.call(gate, "tagged")) as { session: number; source: number; bytes: number[]; isCall: boolean }[];
    expect([first, second]).toEqual([
      { session: 7, source: agent, bytes: [1, 2, 3], isCall: false },
      { session: 0x7fffffff, source: agent, bytes: [4], isCall: false },
    ]);
    expect(call).toMatchObject({ source: 0, bytes: [8, 9], isCall: true });
    expect(call.session).toBeGreaterThan(0);
  });

  it("svc.response() answers later, once: the second answer returns false and the handler's return value is ignored", async () => {
    const rt = shared();
    const holder = await rt.newServiceOn(2, "msg_proto");
    const first = rt.call(holder, "hold");
    const second = rt.call(holder, "hold");
    const answered: string[] = [];
    void first.then(() => answered.push("first"));
    expect(await rt.call(holder, "release", { late: 1 })).toEqual([true, false]);
    expect(await first).toEqual({ late: 1 });
    expect(answered).toEqual(["first"]);
    expect(await rt.call(holder, "failHeld", "held, then refused")).toBe(true);
    await expect(second).rejects.toMatchObject({ code: "WEFT_REMOTE_ERROR", message: expect.stringContaining("held, then refused") });
    rt.send(holder, "respondToSend");
    expect(await rt.call(holder, "sendResponder")).toBe(false);
  });

  it("registerProtocol's pack and unpack shape what sendAs and callAs carry", async () => {
    const rt = shared();
    const a = await rt.newServiceOn(1, "msg_proto");
    const b = await rt.newServiceOn(2, "msg_proto");
    await rt.call(a, "sendCsv", b, "one", "two");
    await rt.call(a, "sendCsv", b, "three");
    // behind the sends on the same channel, so b has handled them when this answers
    expect(await rt.call(a, "callCsv", b, "x", "y", "z")).toEqual(["z", "y", "x"]);
    expect(await rt.call(b, "csvSeen")).toEqual([["one", "two"], ["three"]]);
    // on the wire a csv message is the packed string
    expect(await rt.rawCall(b, 20, "p,q")).toBe("q,p");
  });
});
