/**
 * The console's `netstat`: each gate's connections, and one summary line per gate from its
 * `stats` command (connections, accepted, refused, resets, errors, cut, paused, ...) when the
 * gate has one; a gate without it (UnknownCommandError) just has no summary line.
 */
import { formatHandle, type ConnectionInfo, type Handle } from "weft";
import { SERVICE_DEADLINE_MS, type Asker } from "./ask.js";
import { errorText, table, type Cell } from "./text.js";

const HEADER = ["gate", "fd", "peer", "state", "bytes_in", "bytes_out", "backlog"];

/** The gates' lines; `strict`: one gate was named, so its failure fails the command. */
export async function netstatLines(ask: Asker, gates: Handle[], strict: boolean): Promise<string[]> {
  const answers = await Promise.all(
    gates.map(async (gate) => {
      const [connections, stats] = await Promise.allSettled([
        ask.call<ConnectionInfo[]>(gate, SERVICE_DEADLINE_MS, "connections", []),
        ask.call<Record<string, unknown>>(gate, SERVICE_DEADLINE_MS, "stats", []),
      ]);
      return { gate, connections, stats };
    }),
  );
  const rows: Cell[][] = [HEADER];
  const summaries: string[] = [];
  const notes: string[] = [];
  for (const { gate, connections, stats } of answers) {
    const addr = formatHandle(gate);
    if (connections.status === "rejected") {
      if (strict) throw connections.reason;
      notes.push(`${addr}: ${errorText(connections.reason)}`);
      continue;
    }
    if (connections.value.length === 0) rows.push([addr, "-", "no connections"]);
    for (const c of connections.value.sort((a, b) => a.fd - b.fd)) {
      rows.push([addr, c.fd, c.peer, c.open ? "open" : "waiting", c.bytesIn, c.bytesOut, c.backlog]);
    }
    if (stats.status === "fulfilled") summaries.push(summaryLine(addr, stats.value));
    else if ((stats.reason as { code?: unknown }).code !== "WEFT_UNKNOWN_COMMAND") notes.push(`${addr}: stats: ${errorText(stats.reason)}`);
  }
  return [...table(rows, "lrllrrr"), ...summaries, ...notes];
}

/** `:0100000a  connections 3  accepted 10  refused 0 ...`: the numbers, in the gate's order. */
export function summaryLine(addr: string, stats: Record<string, unknown>): string {
  const counts = Object.entries(stats ?? {}).filter(([, v]) => typeof v === "number");
  return [addr, ...counts.map(([k, v]) => `${k} ${String(v)}`)].join("  ");
}
