/**
 * defineService and the types that carry a service's command table to its callers.
 */
import type { Handle } from "./handle.js";
import type { Service } from "./context.js";

// `any` in these constraints is deliberate: a command may take any arguments; the concrete
// types come from each service's own table.
export type Command = (...args: any[]) => unknown;
export type CommandTable = { [command: string]: Command };

export type StartFunction = (svc: Service, ...args: any[]) => unknown;

const SERVICE = Symbol.for("weft.service");

/** What `defineService` returns: the module's default export. */
export interface ServiceModule<Args extends unknown[] = any[], Commands extends CommandTable = CommandTable> {
  readonly [SERVICE]: true;
  readonly start: (svc: Service, ...args: Args) => Commands | void | Promise<Commands | void>;
  /** Type-only: never set at run time. */
  readonly commands?: Commands;
}

/**
 * Defines a service. The start function runs once per instance, with the service's context and
 * the launch arguments, and returns the handlers of the command protocol: a call's reply is the
 * handler's return value (or what its promise resolves to).
 *
 * @example
 * export default defineService(async (svc, greeting: string) => {
 *   let count = 0;
 *   return {
 *     hello(name: string) { count++; return `${greeting}, ${name}`; },
 *     count() { return count; },
 *   };
 * });
 */
export function defineService<Args extends unknown[], Commands extends CommandTable = {}>(
  start: (svc: Service, ...args: Args) => Commands | void | Promise<Commands | void>,
): ServiceModule<Args, Commands> {
  return Object.freeze({ [SERVICE]: true as const, start });
}

export function isServiceModule(value: unknown): value is ServiceModule {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[SERVICE] === true;
}

/** Commands of a service whose type the caller does not know: any arguments, any result. */
export type UntypedCommands = { [command: string]: (...args: any[]) => any };

/** The command table of a service module (or of a command table given directly). */
export type CommandsOf<S> = unknown extends S
  ? UntypedCommands
  : S extends ServiceModule<any, infer C>
    ? C
    : S extends CommandTable
      ? S
      : UntypedCommands;

/** The launch arguments of a service module. */
export type ArgsOf<S> = S extends ServiceModule<infer A, any> ? A : unknown[];

/**
 * A service's address. `Address<typeof Db>` is still a plain number at run time; the type
 * parameter lets `call` and `proxy` check commands, arguments and results.
 */
export type Address<S = unknown> = Handle & { readonly __service?: S };

/** A typed stub: each command becomes a method that makes the call. */
export type Proxy<S> = {
  readonly [K in keyof CommandsOf<S>]: (...args: Parameters<CommandsOf<S>[K]>) => Promise<Awaited<ReturnType<CommandsOf<S>[K]>>>;
};

export type CommandName<S> = keyof CommandsOf<S> & string;
export type CommandArgs<S, K extends CommandName<S>> = Parameters<CommandsOf<S>[K]>;
export type CommandResult<S, K extends CommandName<S>> = Awaited<ReturnType<CommandsOf<S>[K]>>;
