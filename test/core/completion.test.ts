/**
 * completion.ts, the one path that decides what a finished message gets: every ending
 * (returned, threw, refused) of every kind of message (call, send, tagged send, one already
 * answered, a service's own callback), first on a bare Completer, then through real services.
 */
import { setImmediate as nextImmediate } from "node:timers/promises";
import { describe, expect, it, vi } from "vitest";
import { RemoteError, UnknownCommandError } from "weft";
import { complete, Ending, envelope, expectsAnswer, PROTO, type Completer, type Envelope } from "weft/internal";
import { loopback } from "./harness.js";

const SOURCE = 0x01000009;

function completer(alive = true) {
  const service = {
    alive,
    handle: 0x02000001,
    inflight: new Set<Envelope>(),
    reply: vi.fn<Completer["reply"]>(),
    log: vi.fn<Completer["log"]>(),
    logError: vi.fn<Completer["logError"]>(),
  };
  return service;
}

const call = () => envelope(SOURCE, 5, PROTO.lua, "get", []);
const send = () => envelope(SOURCE, 0, PROTO.lua, "put", []);
const tagged = () => envelope(SOURCE, -7, PROTO.client, "", new Uint8Array(1));
const oops = new Error("oops");
const refusal = new UnknownCommandError("no such command");

describe("expectsAnswer", () => {
  it("is true for a positive session on any protocol but local", () => {
    expect(expectsAnswer(call())).toBe(true);
    expect(expectsAnswer(envelope(SOURCE, 1, PROTO.client, "", undefined))).toBe(true);
    expect(expectsAnswer(send())).toBe(false);
    expect(expectsAnswer(tagged())).toBe(false);
    expect(expectsAnswer(envelope(SOURCE, 3, PROTO.local, "timeout", () => 1))).toBe(false);
  });
});

describe("complete", () => {
  it.each([
    ["returned", Ending.Returned, 42, true, false],
    ["threw", Ending.Threw, oops, false, false],
    ["was refused", Ending.Refused, refusal, false, true],
  ] as const)("a call that %s is answered once (ok=%s, byRuntime=%s), and leaves the inflight set", (_what, ending, value, ok, byRuntime) => {
    const service = completer();
    const env = call();
    service.inflight.add(env);
    expect(complete(service, env, ending, value)).toBe(true);
    expect(service.reply).toHaveBeenCalledTimes(1);
    expect(service.reply).toHaveBeenCalledWith(env, ok, value, byRuntime);
    expect(env.answered).toBe(true);
    expect(service.inflight.size).toBe(0);
    expect(service.log).not.toHaveBeenCalled();
    expect(service.logError).not.toHaveBeenCalled();
    // Any second ending finds it answered.
    for (const again of [Ending.Returned, Ending.Refused]) expect(complete(service, env, again, 1)).toBe(false);
    expect(service.reply).toHaveBeenCalledTimes(1);
  });

  it("a call is answered even by a service that is exiting (its queued calls are refused that way)", () => {
    const service = completer(false);
    expect(complete(service, call(), Ending.Refused, refusal)).toBe(true);
    expect(service.reply).toHaveBeenCalledTimes(1);
  });

  it("a throw after the call was answered is logged, not answered; by a dead service, not even logged", () => {
    const service = completer();
    const env = call();
    complete(service, env, Ending.Returned, 1);
    expect(complete(service, env, Ending.Threw, oops)).toBe(false);
    expect(service.logError).toHaveBeenCalledWith('"get" after its call was answered', oops);
    const dead = completer(false);
    const answered = call();
    answered.answered = true;
    expect(complete(dead, answered, Ending.Threw, oops)).toBe(false);
    expect(dead.logError).not.toHaveBeenCalled();
    expect(dead.reply).not.toHaveBeenCalled();
  });

  it.each([
    ["a send", send, '"put"'],
    ["a tagged send", tagged, "a client message"],
  ] as const)("%s is never answered: returned is nothing, threw is logged, refused is logged as dropped", (_what, make, label) => {
    const service = completer();
    expect(complete(service, make(), Ending.Returned, 42)).toBe(true);
    expect(complete(service, make(), Ending.Threw, oops)).toBe(true);
    expect(complete(service, make(), Ending.Refused, refusal)).toBe(true);
    expect(service.reply).not.toHaveBeenCalled();
    expect(service.logError.mock.calls).toEqual([[label, oops]]);
    expect(service.log.mock.calls).toEqual([["dropped a message from :01000009: no such command"]]);
  });

  it("a send to a service that is gone is dropped without a word", () => {
    const service = completer(false);
    for (const ending of [Ending.Returned, Ending.Threw, Ending.Refused]) expect(complete(service, send(), ending, oops)).toBe(false);
    expect([service.reply, service.log, service.logError].map((f) => f.mock.calls.length)).toEqual([0, 0, 0]);
  });

  it("a service's own callback (local protocol) gets nothing from completion, whatever its session", () => {
    const service = completer();
    const local = envelope(0x02000001, 9, PROTO.local, "fork", () => 1);
    expect(complete(service, local, Ending.Threw, oops)).toBe(false);
    expect(local.answered).toBe(false);
    expect([service.reply, service.log, service.logError].map((f) => f.mock.calls.length)).toEqual([0, 0, 0]);
  });
});

describe("completion through real services", () => {
  it("every ending of a call reaches the caller as it should", async () => {
    const lb = loopback();
    const target = await lb.launch(2, (svc) => {
      svc.dispatch("text", (message: string) => `text: ${message}`);
      return {
        value: () => 1,
        later: async () => 2,
        nothing: () => undefined,
        throws() {
          throw new Error("now");
        },
        rejects: async () => Promise.reject(new Error("later")),
        /** A function cannot be sent back: the caller gets the EncodeError, wrapped. */
        unsendable: () => () => 1,
        /** Takes over the answer, then throws before giving it: the throw answers. */
        respondThenThrow() {
          svc.response();
          throw new Error("after response");
        },
        /** Answers through the responder, then its promise rejects: logged, not answered again. */
        async respondThenReject() {
          const respond = svc.response();
          respond("given");
          await null;
          throw new Error("too late");
        },
      };
    });
    const call = (cmd: string) => lb.call(1, target, cmd);
    expect(await call("value")).toBe(1);
    expect(await call("later")).toBe(2);
    expect(await call("nothing")).toBeUndefined();
    await expect(call("throws")).rejects.toMatchObject({ name: "RemoteError", cause: { message: "now" } });
    await expect(call("rejects")).rejects.toMatchObject({ name: "RemoteError", cause: { message: "later" } });
    const encode = await call("unsendable").catch((e: unknown) => e);
    expect(encode).toBeInstanceOf(RemoteError);
    expect((encode as RemoteError).cause).toMatchObject({ name: "EncodeError", code: "WEFT_ENCODE" });
    await expect(call("respondThenThrow")).rejects.toMatchObject({ cause: { message: "after response" } });
    expect(await call("respondThenReject")).toBe("given");
    expect(await lb.waitForLog(/too late/)).toContain('error in "respondThenReject" after its call was answered: Error: too late');
    // Refusals keep their class: no such command, no such protocol.
    await expect(call("missing")).rejects.toBeInstanceOf(UnknownCommandError);
    await expect(lb.host(1).system.ctx.rawCall(target, 42, "x")).rejects.toMatchObject({ name: "UnknownProtocolError", code: "WEFT_UNKNOWN_PROTOCOL" });
    expect(await lb.host(1).system.ctx.rawCall(target, "text", "hi")).toBe("text: hi");
    expect(lb.service(target).inflight.size).toBe(0);
  });

  it("every ending of a send and of a tagged send is logged where it was handled, and nothing is answered", async () => {
    const lb = loopback();
    const answers: number[] = [];
    // Whatever is sent to slot 200 is an answer someone should not have got.
    for (const host of lb.hosts.values()) host.routes.set(200, { post: (_d, _s, session) => void answers.push(session) });
    const spy = (0xc8000000 | 1) >>> 0;
    const target = await lb.launch(2, (svc) => {
      svc.dispatch("client", (bytes: Uint8Array, _source, fd) => {
        if (bytes[0] === 0) throw new Error(`client throw fd ${fd}`);
        return bytes;
      });
      return {
        throws() {
          throw new Error("send throw");
        },
        fine: () => "ignored",
      };
    });
    const plain = await lb.launch(2, () => ({}));
    const from = lb.host(1).system.ctx;
    from.redirect(target, spy, "client", Uint8Array.of(0), 3);
    from.redirect(target, spy, "client", Uint8Array.of(1), 4);
    from.redirect(plain, spy, "client", Uint8Array.of(1), 5);
    from.send(target, "throws");
    from.send(target, "fine");
    from.send(target, "missing");
    expect(await lb.waitForLog(/send throw/)).toMatch(/error in "throws": Error: send throw/);
    expect(await lb.waitForLog(/client throw/)).toMatch(/error in a client message: Error: client throw fd 3/);
    expect(await lb.waitForLog(/has no command "missing"/)).toMatch(/dropped a message from :01000000: .* has no command "missing"/);
    expect(await lb.waitForLog(/no dispatch for protocol 3/)).toMatch(/dropped a message from :c8000001: .* no dispatch for protocol 3/);
    // All handled (a call behind them on the same ring), and nothing answered any of them.
    await lb.call(1, target, "fine");
    await lb.call(1, plain, "missing").catch(() => undefined);
    expect(answers).toEqual([]);
    expect(lb.logs.filter((l) => l.includes("client throw"))).toEqual([expect.stringContaining("client throw fd 3")]);
  });

  it("exit refuses what waits: a call in the mailbox and one in flight get ServiceExitedError, a send is dropped silently", async () => {
    const lb = loopback({ workers: 1 });
    const slow = await lb.launch(1, () => ({
      block: () => new Promise(() => undefined),
      quick: () => "quick",
    }));
    const blocked = lb.call(1, slow, "block");
    while (lb.service(slow).inflight.size === 0) await nextImmediate();
    // Queued and not handled yet: exit comes first.
    const queued = lb.call(1, slow, "quick");
    lb.host(1).system.ctx.send(slow, "quick");
    expect(lb.service(slow).mailbox.length).toBe(2);
    await lb.service(slow).exit("test");
    await expect(blocked).rejects.toMatchObject({ name: "ServiceExitedError", message: expect.stringMatching(/exited before answering "block"/) });
    await expect(queued).rejects.toMatchObject({ name: "ServiceExitedError", message: expect.stringMatching(/exited before answering "quick"/) });
    expect(lb.logs).toEqual([]);
  });
});
