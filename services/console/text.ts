/**
 * The debug console's text: aligned columns, JSON for display, command lines and their
 * arguments. Pure functions, no sockets: the server (server.ts) and the commands
 * (commands.ts) share them; the HTTP form's text is in http.ts.
 */

/** A mistake of the console's user (usage, a bad address, bad JSON): shown as is, without a stack. */
export class ConsoleError extends Error {
  override name = "ConsoleError";
}

export type Cell = string | number;

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Rows as aligned columns, two spaces apart. `align` has one letter per column: "r" aligns
 * right (numbers), anything else left. The last column is not padded, so lines carry no
 * trailing spaces.
 */
export function table(rows: Cell[][], align = ""): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const text = String(cell);
        if (align[i] === "r") return text.padStart(widths[i]!);
        return i === row.length - 1 ? text : text.padEnd(widths[i]!);
      })
      .join("  ")
      .trimEnd(),
  );
}

/** Bytes as whole KiB, the unit skynet's console uses for memory. */
export const kb = (bytes: number): string => `${Math.round(bytes / 1024)} KB`;

/**
 * A value as JSON for the console. What JSON cannot show is still shown: `undefined`,
 * bigints as `12n`, bytes as `<5 bytes>` (msgpack hands bytes over as Buffers, whose toJSON
 * would print every byte).
 */
export function json(value: unknown, indent?: number): string {
  const text = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      if (original instanceof Uint8Array) return `<${original.length} bytes>`;
      if (typeof v === "bigint") return `${v}n`;
      return v;
    },
    indent,
  );
  return text ?? String(value);
}

/** A console line as words, each with where it ends, so a command can take the raw rest of the line. */
export interface Words {
  words: string[];
  /** The text after the first `n` words, trimmed. */
  rest(n: number): string;
}

export function splitWords(line: string): Words {
  const words: string[] = [];
  const ends: number[] = [];
  for (const match of line.matchAll(/\S+/g)) {
    words.push(match[0]);
    ends.push(match.index + match[0].length);
  }
  return { words, rest: (n) => (n === 0 ? line.trim() : n > ends.length ? "" : line.slice(ends[n - 1]).trim()) };
}

/**
 * Arguments as JSON values separated by spaces (commas between them are allowed too):
 * `"hello" 42 {"a": [1, 2]} true`. A bare word that is not JSON is taken as a string, so
 * `get hello` works like `get "hello"`. A quoted string, an object or an array that is not
 * valid JSON is an error (rather than a guess).
 */
export function scanValues(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/[\s,]/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '"' || c === "{" || c === "[") {
      i = endOfJson(text, i);
      const piece = text.slice(start, i);
      try {
        values.push(JSON.parse(piece));
      } catch (err) {
        throw new ConsoleError(`argument ${values.length + 1} is not valid JSON (${(err as Error).message}): ${piece}`);
      }
    } else {
      while (i < text.length && !/[\s,]/.test(text[i]!)) i++;
      values.push(parseJsonOrString(text.slice(start, i)));
    }
  }
  return values;
}

/** A value typed by a user: JSON if it parses, else the text itself. */
export function parseJsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Where the JSON string, object or array starting at `start` ends (exclusive). */
function endOfJson(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return i + 1;
      }
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new ConsoleError(`unterminated ${text[start] === '"' ? "string" : text[start] === "{" ? "object" : "array"} in the arguments: ${text.slice(start)}`);
}
