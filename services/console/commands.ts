/**
 * The debug console's commands (skynet's debug_console COMMAND table). Each turns its words into
 * output lines or throws; `run` makes that an Output the server prints with `<CMD OK>` or
 * `<CMD Error>`. They look at the runtime only as any service can: the launcher's commands,
 * each thread's system endpoint, and the debug protocol every service answers in its mailbox.
 */
import { performance } from "node:perf_hooks";
import {
  formatHandle,
  type ConnectionInfo,
  type DebugRequest,
  type Handle,
  type LostService,
  type Service,
  type ServiceRecord,
  type ServiceStat,
  type TaskReport,
} from "weft";
import { hostHandle, parseHandle, slotOf, SLOT_BITS, type SystemRequest } from "weft/internal";
import { ConsoleError, errorText, json, kb, parseJsonOrString, scanValues, splitWords, table, type Cell, type Words } from "./text.js";

/** What one command line produced: lines of text, and the error text if it failed. */
export interface Output {
  lines: string[];
  error?: string;
}

interface Command {
  usage: string;
  help: string;
  run(args: Words): Promise<string[]> | string[];
}

export const INVALID_COMMAND = "Invalid command, type help for command list";

/**
 * Requests answered in a service's mailbox (ping, task, info, logon, exit) give up after this:
 * a service stuck in a handler must not hang the console. `call` has no limit, as in skynet.
 */
const DEBUG_TIMEOUT_MS = 10_000;

const LOCAL_MASK = (1 << SLOT_BITS) - 1;

export function consoleCommands(svc: Service): { run(line: string): Promise<Output> } {
  const debug = (handle: Handle, request: DebugRequest) => svc.withTimeout(DEBUG_TIMEOUT_MS).rawCall(handle, "debug", request);
  const system = (worker: number, request: SystemRequest) => svc.rawCall(hostHandle(worker), "system", request);
  /** Worker 0 is the main thread; 1..thread are the worker threads. */
  const workers = () => Array.from({ length: (Number(svc.getenv("thread")) || 1) + 1 }, (_, w) => w);
  const workerName = (w: number) => (w === 0 ? "main" : `worker ${w}`);

  /** Asks every thread; a thread that fails (lost, restarting) gets an error line, not a failed command. */
  async function everyWorker<T>(request: SystemRequest): Promise<{ worker: number; value?: T; error?: string }[]> {
    const settled = await Promise.allSettled(workers().map((w) => system(w, request) as Promise<T>));
    return settled.map((r, worker) => (r.status === "fulfilled" ? { worker, value: r.value } : { worker, error: errorText(r.reason) }));
  }

  /** `:0100000a`, `100000a` (hex) or a name (`.local`, or global). */
  async function address(text: string | undefined): Promise<Handle> {
    if (text === undefined) throw new ConsoleError("an address is needed: :0100000a, 100000a (hex) or .name");
    let handle = parseHandle(text);
    if (handle === undefined) {
      if (text.startsWith(":")) throw new ConsoleError(`invalid address "${text}": an address is :0100000a, 100000a (hex) or .name`);
      handle = await svc.queryName(text);
      if (handle === undefined) {
        throw new ConsoleError(text.startsWith(".") ? `no service named "${text}"` : `invalid address "${text}": neither a hex address nor a registered name`);
      }
    }
    if ((handle & LOCAL_MASK) === 0) throw new ConsoleError(`${formatHandle(handle)} is the system endpoint of ${workerName(slotOf(handle))}, not a service`);
    return handle;
  }

  const launcherList = async () => ((await svc.call(".launcher", "list")) as ServiceRecord[]).sort((a, b) => a.handle - b.handle);

  const commands: Record<string, Command> = {
    help: {
      usage: "help",
      help: "this list",
      run: () => [
        ...table(Object.values(commands).map((c) => [c.usage, c.help])),
        "",
        "Addresses: :0100000a, 100000a (hex), .name. Arguments of call, start and info are JSON values",
        "separated by spaces; a bare word that is not JSON is a string: call :0100000a set counter 1",
        "Over HTTP: GET /command/arg1/arg2 (each segment URL-decoded) answers the same text.",
      ],
    },

    list: {
      usage: "list",
      help: "every live service: address, name, launch arguments",
      async run() {
        const [live, lost] = await Promise.all([launcherList(), svc.call(".launcher", "lost") as Promise<LostService[]>]);
        return [
          ...table(live.map((r) => [r.address, r.name, r.args.map((a) => json(a)).join(" ")])),
          ...lost.map((r) => `lost ${r.address} ${r.name} (${r.reason})`),
        ];
      },
    },

    stat: {
      usage: "stat [address]",
      help: "per service: cpu ms, messages handled, mailbox length, pending calls/answers/timers/forks/waits",
      async run({ words }) {
        const stats: ServiceStat[] = [];
        const notes: string[] = [];
        if (words[0] !== undefined) {
          const handle = await address(words[0]);
          const stat = (await system(slotOf(handle), { op: "stat", handle })) as ServiceStat | undefined;
          if (!stat) throw new ConsoleError(`no service at ${formatHandle(handle)}`);
          stats.push(stat);
        } else {
          for (const r of await everyWorker<ServiceStat[]>({ op: "list" })) {
            if (r.error) notes.push(`${workerName(r.worker)}: ${r.error}`);
            else stats.push(...r.value!);
          }
        }
        stats.sort((a, b) => (a.address < b.address ? -1 : 1));
        const header = ["address", "name", "cpu_ms", "messages", "mailbox", "calls", "inflight", "timers", "forks", "waits"];
        const rows = stats.map((s) => [s.address, s.name, s.cpu.toFixed(1), s.messages, s.mailbox, s.calls, s.inflight, s.timers, s.forks, s.waits]);
        return [...table([header, ...rows], "llrrrrrrrr"), ...notes];
      },
    },

    mem: {
      usage: "mem",
      help: "JS heap per thread, process rss; per service it cannot be measured (a thread's services share one heap)",
      async run() {
        type Mem = NodeJS.MemoryUsage & { heap: { heap_size_limit: number } };
        const [mems, lists] = await Promise.all([everyWorker<Mem>({ op: "mem" }), everyWorker<ServiceStat[]>({ op: "list" })]);
        const rows: Cell[][] = [["thread", "heap_used", "heap_total", "heap_limit", "external", "services"]];
        const notes: string[] = [];
        let rss: number | undefined;
        for (const m of mems) {
          if (m.error) notes.push(`${workerName(m.worker)}: ${m.error}`);
          else {
            const v = m.value!;
            rss = v.rss;
            rows.push([workerName(m.worker), kb(v.heapUsed), kb(v.heapTotal), kb(v.heap.heap_size_limit), kb(v.external), lists[m.worker]?.value?.length ?? "?"]);
          }
        }
        return [
          ...table(rows, "lrrrrr"),
          ...notes,
          ...(rss === undefined ? [] : [`rss ${kb(rss)} (the whole process)`]),
          "A service's own memory cannot be measured: the services of a thread share its JS heap.",
        ];
      },
    },

    gc: {
      usage: "gc",
      help: "a full garbage collection on every thread: heap used before and after",
      async run() {
        const rows: Cell[][] = [["thread", "before", "after", "freed"]];
        const notes: string[] = [];
        for (const r of await everyWorker<{ before: number; after: number }>({ op: "gc" })) {
          if (r.error) notes.push(`${workerName(r.worker)}: ${r.error}`);
          else rows.push([workerName(r.worker), kb(r.value!.before), kb(r.value!.after), kb(r.value!.before - r.value!.after)]);
        }
        return [...table(rows, "lrrr"), ...notes];
      },
    },

    info: {
      usage: "info address [args...]",
      help: "what the service's info function (svc.setInfo) returns for args, as JSON",
      async run({ words, rest }) {
        const handle = await address(words[0]);
        const result = await debug(handle, { cmd: "info", args: scanValues(rest(1)) });
        return json(result, 2).split("\n");
      },
    },

    exit: {
      usage: "exit address",
      help: "ends the service once the messages already in its mailbox are handled",
      async run({ words }) {
        const handle = await address(words[0]);
        // The request queues behind what the mailbox holds, which is handled first.
        await debug(handle, { cmd: "exit" });
        return [`${formatHandle(handle)} exited`];
      },
    },

    kill: {
      usage: "kill address",
      help: "ends the service now; messages waiting in its mailbox are refused",
      async run({ words }) {
        const handle = await address(words[0]);
        if (!(await svc.kill(handle))) throw new ConsoleError(`no service at ${formatHandle(handle)}`);
        return [`${formatHandle(handle)} killed`];
      },
    },

    start: {
      usage: "start name [args...]",
      help: "starts a service with JSON arguments; prints its address",
      async run({ words, rest }) {
        if (words[0] === undefined) throw new ConsoleError("usage: start name [args...]");
        const handle = await svc.newService(words[0], ...scanValues(rest(1)));
        return [formatHandle(handle)];
      },
    },

    call: {
      usage: "call address cmd [args...]",
      help: "calls a command with JSON arguments; prints the result as JSON",
      async run({ words, rest }) {
        const handle = await address(words[0]);
        const cmd = words[1];
        if (cmd === undefined) throw new ConsoleError("usage: call address cmd [args...]");
        const result = await svc.call(handle, cmd, ...scanValues(rest(2)));
        return result === undefined ? [] : [json(result)];
      },
    },

    ping: {
      usage: "ping address",
      help: "a round trip through the service's mailbox, in ms",
      async run({ words }) {
        const handle = await address(words[0]);
        const start = performance.now();
        await debug(handle, { cmd: "ping" });
        return [`${formatHandle(handle)}  pong  ${(performance.now() - start).toFixed(3)} ms`];
      },
    },

    task: {
      usage: "task address",
      help: "the service's pending calls, the answers it owes, its timers, forks and waits",
      async run({ words }) {
        const handle = await address(words[0]);
        const report = (await debug(handle, { cmd: "task" })) as TaskReport;
        return [
          ...table(report.calls.map((c) => ["call", `#${c.session}`, "to", c.dest, json(c.cmd)])),
          ...table(report.inflight.map((c) => ["answer", "owed", "to", c.source, json(c.cmd)])),
          `timers ${report.timers}  forks ${report.forks}  waits ${report.waits}`,
        ];
      },
    },

    service: {
      usage: "service",
      help: "the unique services (svc.uniqueService) and their addresses",
      async run() {
        const uniques = (await svc.call(".launcher", "uniques")) as { name: string; handle: Handle }[];
        if (uniques.length === 0) return ["no unique service has been started"];
        return table(uniques.sort((a, b) => (a.name < b.name ? -1 : 1)).map((u) => [u.name, formatHandle(u.handle)]));
      },
    },

    netstat: {
      usage: "netstat [address]",
      help: "connections of every gate (or of the gateserver at address): fd, peer, bytes, backlog",
      async run({ words }) {
        const gates = words[0] !== undefined ? [await address(words[0])] : (await launcherList()).filter((r) => r.name === "gate" || r.name === "wsgate").map((r) => r.handle);
        if (gates.length === 0) return ["no gate is running"];
        const rows: Cell[][] = [["gate", "fd", "peer", "state", "bytes_in", "bytes_out", "backlog"]];
        const notes: string[] = [];
        for (const gate of gates) {
          let connections: ConnectionInfo[];
          try {
            connections = (await svc.call(gate, "connections")) as ConnectionInfo[];
          } catch (err) {
            if (words[0] !== undefined) throw err;
            notes.push(`${formatHandle(gate)}: ${errorText(err)}`);
            continue;
          }
          if (connections.length === 0) rows.push([formatHandle(gate), "-", "no connections"]);
          for (const c of connections.sort((a, b) => a.fd - b.fd)) {
            rows.push([formatHandle(gate), c.fd, c.peer, c.open ? "open" : "waiting", c.bytesIn, c.bytesOut, c.backlog]);
          }
        }
        return [...table(rows, "lrllrrr"), ...notes];
      },
    },

    getenv: {
      usage: "getenv key",
      help: "a config key or setenv value, as JSON",
      run({ words }) {
        if (words[0] === undefined) throw new ConsoleError("usage: getenv key");
        const value = svc.getenv(words[0]);
        if (value === undefined) throw new ConsoleError(`"${words[0]}" is not set`);
        return [json(value)];
      },
    },

    setenv: {
      usage: "setenv key value",
      help: "sets a value every service can getenv (JSON if it parses, else the text)",
      async run({ words, rest }) {
        const text = rest(1);
        if (words[0] === undefined || text === "") throw new ConsoleError("usage: setenv key value");
        const value = parseJsonOrString(text);
        await svc.setenv(words[0], value);
        return [`${words[0]} = ${json(value)}`];
      },
    },

    logon: {
      usage: "logon address",
      help: "logs every message the service receives (to the logger)",
      async run({ words }) {
        const handle = await address(words[0]);
        await debug(handle, { cmd: "logon" });
        return [`${formatHandle(handle)} logging on`];
      },
    },

    logoff: {
      usage: "logoff address",
      help: "stops logging the service's messages",
      async run({ words }) {
        const handle = await address(words[0]);
        await debug(handle, { cmd: "logoff" });
        return [`${formatHandle(handle)} logging off`];
      },
    },
  };

  return {
    /** Runs one command line; never throws: a failure is the Output's error. */
    async run(line: string): Promise<Output> {
      const { words, rest } = splitWords(line);
      const command = Object.hasOwn(commands, words[0] ?? "") ? commands[words[0]!] : undefined;
      if (command === undefined) return { lines: [], error: INVALID_COMMAND };
      try {
        const args: Words = { words: words.slice(1), rest: (n) => rest(n + 1) };
        return { lines: await command.run(args) };
      } catch (err) {
        return { lines: [], error: errorText(err) };
      }
    },
  };
}
