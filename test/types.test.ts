/**
 * Types flow from a service's command table to its callers. The expectTypeOf lines and the
 * `@ts-expect-error` lines are checked by `tsc -p tsconfig.json --noEmit` (the project type check
 * includes test/); the calls are also made for real, so the types are known to match run time.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type { Address, ArgsOf, CommandsOf, Proxy, Runtime, Service } from "weft";
import type Typed from "./fixtures/msg_typed.js";
import { useRuntime } from "./helpers.js";

type TypedProxy = Proxy<typeof Typed>;

const runtime = useRuntime();

/** Never called: every line in it must fail to compile. */
function wrongUses(rt: Runtime, svc: Service, addr: Address<typeof Typed>): void {
  const typed = rt.proxy<typeof Typed>(addr);
  // @ts-expect-error add takes numbers
  void typed.add("1", 2);
  // @ts-expect-error add takes two arguments
  void typed.add(1);
  // @ts-expect-error the service has no such command
  void typed.subtract(1, 2);
  // @ts-expect-error the result is a number, not a string
  void typed.add(1, 2).then((sum: string) => sum);
  // @ts-expect-error call checks the command name
  void rt.call(addr, "subtract", 1, 2);
  // @ts-expect-error call checks the arguments
  void rt.call(addr, "greet", 42);
  // @ts-expect-error svc.call checks the arguments too
  void svc.call(addr, "point", "3", "4");
  // @ts-expect-error svc.proxy checks the arguments too
  void svc.proxy<typeof Typed>(addr).point(3);
  // @ts-expect-error send checks the arguments too
  rt.send(addr, "add", "1", "2");
  // @ts-expect-error an address typed for one service is not an address of another
  const other: Address<{ add(a: string): string }> = addr;
  void other;
}

describe("typed services", () => {
  it("rt.proxy<typeof Service> has the service's commands, with their arguments and awaited results", async () => {
    const rt = runtime();
    const addr = await rt.newService<typeof Typed>("msg_typed", 10);
    expectTypeOf(addr).toEqualTypeOf<Address<typeof Typed>>();
    expectTypeOf(addr).toMatchTypeOf<number>();
    const typed = rt.proxy<typeof Typed>(addr);
    expectTypeOf(typed).toEqualTypeOf<TypedProxy>();
    expectTypeOf(typed.add).parameters.toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(typed.add).returns.toEqualTypeOf<Promise<number>>();
    // an async command is not a promise of a promise
    expectTypeOf(typed.greet).parameters.toEqualTypeOf<[name: string, punctuation?: string]>();
    expectTypeOf(typed.greet).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(typed.point).returns.toEqualTypeOf<Promise<{ x: number; y: number; at: string }>>();
    expectTypeOf(typed.reset).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<keyof TypedProxy>().toEqualTypeOf<"add" | "greet" | "point" | "calls" | "reset">();

    const sum = await typed.add(1, 2);
    expectTypeOf(sum).toEqualTypeOf<number>();
    expect(sum).toBe(13);
    expect(await typed.greet("types", "!")).toBe("hello types!");
    expect(await typed.point(3, 4)).toEqual({ x: 3, y: 4, at: expect.stringMatching(/^:[0-9a-f]{8}$/) });
    expect(await typed.reset()).toBeUndefined();
    expect(await typed.calls()).toBe(0);
  });

  it("rt.call and rt.send with an Address<typeof Service> check the command, its arguments and its result", async () => {
    const rt = runtime();
    const addr = await rt.newServiceOn<typeof Typed>(2, "msg_typed", 100);
    const sum = rt.call(addr, "add", 1, 2);
    expectTypeOf(sum).toEqualTypeOf<Promise<number>>();
    expect(await sum).toBe(103);
    const greeting = rt.call(addr, "greet", "call");
    expectTypeOf(greeting).toEqualTypeOf<Promise<string>>();
    expect(await greeting).toBe("hello call");
    // the type may also be given explicitly, with an address from elsewhere
    const point = rt.call<typeof Typed, "point">(addr, "point", 1, 2);
    expectTypeOf(point).toEqualTypeOf<Promise<{ x: number; y: number; at: string }>>();
    expect(await point).toMatchObject({ x: 1, y: 2 });
    rt.send(addr, "reset");
    expect(await rt.call(addr, "calls")).toBe(0);
    expectTypeOf(wrongUses).toBeFunction();
  });

  it("svc.proxy and svc.call inside a service are typed the same way", async () => {
    const rt = runtime();
    // msg_typed_client compiles only if svc.proxy<typeof Typed> and svc.call give these types
    const client = await rt.newServiceOn(1, "msg_typed_client");
    expect(await rt.call(client, "useTyped", 5)).toEqual({ sum: 8, greeting: "hello svc!", x: 3, y: 4 });
    const viaService = (svc: Service, addr: Address<typeof Typed>) => {
      const typed = svc.proxy<typeof Typed>(addr);
      expectTypeOf(typed).toEqualTypeOf<TypedProxy>();
      expectTypeOf(svc.call(addr, "add", 1, 2)).toEqualTypeOf<Promise<number>>();
      expectTypeOf(svc.withTimeout(100).call(addr, "greet", "x")).toEqualTypeOf<Promise<string>>();
      expectTypeOf(svc.withTimeout(100).proxy<typeof Typed>(addr)).toEqualTypeOf<TypedProxy>();
      expectTypeOf(svc.newService<typeof Typed>("msg_typed", 1)).toEqualTypeOf<Promise<Address<typeof Typed>>>();
    };
    expectTypeOf(viaService).toBeFunction();
  });

  it("the command table and launch arguments come from the module; an untyped address is untyped", async () => {
    const rt = runtime();
    expectTypeOf<ArgsOf<typeof Typed>>().toEqualTypeOf<[base: number]>();
    expectTypeOf<CommandsOf<typeof Typed>["add"]>().toEqualTypeOf<(a: number, b: number) => number>();
    const untyped = await rt.newService("msg_typed", 0);
    const answer = rt.call(untyped, "anything", "goes");
    expectTypeOf(answer).toEqualTypeOf<Promise<any>>();
    await expect(answer).rejects.toMatchObject({ code: "WEFT_UNKNOWN_COMMAND" });
    expect(await rt.call(untyped, "add", 2, 3)).toBe(5);
  });
});
