/**
 * What a service name may be: a module found in servicePath, by name (`agent`, `games/room`),
 * never a path to anywhere else on disk. Whoever can start a service (a console user, a
 * `call .launcher launch ...`) would otherwise run any module the process can read.
 */
import { ServiceStartError } from "./errors.js";

/** The reason `name` is refused, or undefined if it is a plain name. */
export function refusedServiceName(name: unknown): string | undefined {
  if (typeof name !== "string" || name === "") return "a service name must be a non-empty string";
  if (name.startsWith("/") || /^[a-zA-Z]:/.test(name)) return "an absolute path";
  if (/^[a-z][a-z0-9+.-]*:/i.test(name)) return "a URL (file:, node:, data: ...)";
  if (name.includes("\\")) return "a backslash";
  if (name.split("/").some((part) => part === ".." || part === "." || part === "")) return `a "..", "." or empty path segment`;
  return undefined;
}

/** Throws ServiceStartError for a name that is not a plain name under servicePath. */
export function checkServiceName(name: unknown): asserts name is string {
  const why = refusedServiceName(name);
  if (why !== undefined) throw new ServiceStartError(`service ${JSON.stringify(name)} refused: ${why}; services are found by name in servicePath`);
}
