/**
 * Which names the console's `start` accepts. The runtime loads a name from any path it is
 * given (code may start services from anywhere it likes), but the console is a remote
 * control: from it, only services found by name in servicePath (and the built-in services)
 * may start, never a module from elsewhere on disk or a URL.
 */
import { ConsoleError } from "./text.js";

/** Throws a ConsoleError saying what is refused and why; returns for a name it accepts. */
export function checkServiceName(name: string): void {
  const why = refusal(name);
  if (why !== undefined) {
    throw new ConsoleError(`start refuses "${name}": ${why}; the console starts only services found by name in servicePath (start simpledb, start sub/name)`);
  }
}

function refusal(name: string): string | undefined {
  if (name.includes("\\")) return "it has a backslash";
  if (name.startsWith("/") || /^[a-z]:/i.test(name)) return "it is an absolute path";
  if (/^[a-z][a-z0-9+.-]*:/i.test(name)) return `it is a URL (${name.slice(0, name.indexOf(":") + 1)})`;
  if (name.split("/").includes("..")) return 'it has a ".." segment';
  if (name.includes("\0")) return "it has a NUL byte";
  return undefined;
}
