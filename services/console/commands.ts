/**
 * The debug console's commands (skynet's debug_console COMMAND table). Each turns its words into
 * output lines or throws; `run` makes that an Output the server prints with `<CMD OK>` or
 * `<CMD Error>`. They look at the runtime only as any service can: the launcher's commands,
 * each thread's system endpoint, and the debug protocol every service answers in its mailbox;
 * each request with a deadline (ask.ts), so a busy thread cannot hang the console.
 *
 * Each command says whether it only reads or changes the node (`access`): over HTTP, only
 * the first answer GET (http.ts). `info` changes: it runs the service's own code, which may do
 * anything. `gc` changes: it is harmless but stops every thread for a full collection, which a
 * web page must not be able to repeat at will.
 */
import { performance } from "node:perf_hooks";
import { formatHandle, type Handle, type LostService, type Service, type ServiceRecord, type ServiceStat, type TaskReport } from "weft";
import { parseHandle, slotOf, SLOT_BITS } from "weft/internal";
import { consoleAsker, raceDeadline, SERVICE_DEADLINE_MS, THREAD_DEADLINE_MS } from "./ask.js";
import { CONSOLE_HEADER, type Access } from "./http.js";
import { netstatLines } from "./netstat.js";
import { ConsoleError, errorText, json, kb, parseJsonOrString, scanValues, splitWords, table, type Cell, type Words } from "./text.js";

/** What one command line produced: lines of text, and the error text if it failed. */
export interface Output {
  lines: string[];
  error?: string;
}

interface Command {
  usage: string;
  help: string;
  access: "read" | "change";
  run(args: Words): Promise<string[]> | string[];
}

export const INVALID_COMMAND = "Invalid command, type help for command list";

const LOCAL_MASK = (1 << SLOT_BITS) - 1;

export function consoleCommands(svc: Service): { run(line: string): Promise<Output>; access(name: string): Access } {
  const ask = consoleAsker(svc);
  const { workerName } = ask;

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

  const launcherList = async () => (await ask.launcher<ServiceRecord[]>("list")).sort((a, b) => a.handle - b.handle);

  const commands: Record<string, Command> = {
    help: {
      usage: "help",
      help: "this list",
      access: "read",
      run: () => [
        ...table(Object.values(commands).map((c) => [c.usage, c.help])),
        "",
        "Addresses: :0100000a, 100000a (hex), .name. Arguments of call, start and info are JSON values",
        "separated by spaces; a bare word that is not JSON is a string: call :0100000a set counter 1",
        "Over HTTP: GET /command/arg1/arg2 (each segment URL-decoded) answers the same text, for the",
        `commands that only read (${Object.keys(commands).filter((name) => commands[name]!.access === "read").join(" ")});`,
        `the others need POST and the header ${CONSOLE_HEADER}: 1, which a web page cannot send:`,
        `curl -X POST -H '${CONSOLE_HEADER}: 1' http://127.0.0.1:8000/kill/:0100000a`,
        `A thread that does not answer within ${THREAD_DEADLINE_MS} ms, a service within ${SERVICE_DEADLINE_MS} ms, is named in the output.`,
      ],
    },

    list: {
      usage: "list",
      help: "every live service: address, name, launch arguments, [restart policy, restarts] if supervised; what was lost",
      access: "read",
      async run() {
        const [live, lost] = await Promise.all([launcherList(), ask.launcher<LostService[]>("lost")]);
        // Supervised services get one more column; the others keep skynet's three.
        const supervision = (r: ServiceRecord) => (r.restart === "temporary" ? [] : [`[${r.restart}, restarts ${r.restarts}]`]);
        return [
          ...table(live.map((r) => [r.address, r.name, r.args.map((a) => json(a)).join(" "), ...supervision(r)])),
          ...lost.map((r) => `lost ${r.address} ${r.name} (${r.reason})${r.restartedAs ? `, restarted as ${r.restartedAs}` : ""}`),
        ];
      },
    },

    stat: {
      usage: "stat [address]",
      help: "per service: cpu ms, messages handled, mailbox length, pending calls/answers/timers/forks/waits",
      access: "read",
      async run({ words }) {
        const stats: ServiceStat[] = [];
        const notes: string[] = [];
        if (words[0] !== undefined) {
          const handle = await address(words[0]);
          const stat = await ask.system<ServiceStat | undefined>(slotOf(handle), { op: "stat", handle });
          if (!stat) throw new ConsoleError(`no service at ${formatHandle(handle)}`);
          stats.push(stat);
        } else {
          for (const r of await ask.everyWorker<ServiceStat[]>({ op: "list" })) {
            if (r.note) notes.push(r.note);
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
      access: "read",
      async run() {
        type Mem = NodeJS.MemoryUsage & { heap: { heap_size_limit: number } };
        const [mems, lists] = await Promise.all([ask.everyWorker<Mem>({ op: "mem" }), ask.everyWorker<ServiceStat[]>({ op: "list" })]);
        const rows: Cell[][] = [["thread", "heap_used", "heap_total", "heap_limit", "external", "services"]];
        const notes: string[] = [];
        let rss: number | undefined;
        for (const m of mems) {
          if (m.note) notes.push(m.note);
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
      access: "change",
      async run() {
        const rows: Cell[][] = [["thread", "before", "after", "freed"]];
        const notes: string[] = [];
        for (const r of await ask.everyWorker<{ before: number; after: number }>({ op: "gc" })) {
          if (r.note) notes.push(r.note);
          else rows.push([workerName(r.worker), kb(r.value!.before), kb(r.value!.after), kb(r.value!.before - r.value!.after)]);
        }
        return [...table(rows, "lrrr"), ...notes];
      },
    },

    info: {
      usage: "info address [args...]",
      help: "what the service's info function (svc.setInfo) returns for args, as JSON",
      access: "change",
      async run({ words, rest }) {
        const handle = await address(words[0]);
        const result = await ask.debug(handle, { cmd: "info", args: scanValues(rest(1)) });
        return json(result, 2).split("\n");
      },
    },

    exit: {
      usage: "exit address",
      help: "ends the service once the messages already in its mailbox are handled",
      access: "change",
      async run({ words }) {
        const handle = await address(words[0]);
        // The request queues behind what the mailbox holds, which is handled first.
        await ask.debug(handle, { cmd: "exit" });
        return [`${formatHandle(handle)} exited`];
      },
    },

    kill: {
      usage: "kill address",
      help: "ends the service now; messages waiting in its mailbox are refused",
      access: "change",
      async run({ words }) {
        const handle = await address(words[0]);
        const addr = formatHandle(handle);
        // The kill is answered once the service's exit hooks ran. Given up on, it still waits in
        // the thread's queue and ends the service when the thread comes back; a kill sent once
        // the thread has been busy for endlessLoop ms replaces the worker at once (ask.ts).
        const worker = workerName(slotOf(handle));
        const later = `; the kill stays queued: ${addr} ends once ${worker} is free and its exit hooks ran (a kill once ${worker} has been busy for endlessLoop ms replaces the worker, and its other services, at once)`;
        if (!(await ask.kill(handle, later))) throw new ConsoleError(`no service at ${addr}`);
        return [`${formatHandle(handle)} killed`];
      },
    },

    start: {
      usage: "start name [args...]",
      help: "starts a service found by name in servicePath, with JSON arguments; prints its address",
      access: "change",
      async run({ words, rest }) {
        const name = words[0];
        if (name === undefined) throw new ConsoleError("usage: start name [args...]");
        // The runtime refuses a name that is not a plain name under servicePath (a path, a
        // "..", a URL): the console cannot load a module from elsewhere on disk.
        const starting = svc.newService(name, ...scanValues(rest(1)));
        const handle = await raceDeadline(starting, `start ${name}`, SERVICE_DEADLINE_MS, "; it may still start: see list");
        return [formatHandle(handle)];
      },
    },

    call: {
      usage: "call [--timeout ms] address cmd [args...]",
      help: `calls a command with JSON arguments; prints the result as JSON (gives up after ${SERVICE_DEADLINE_MS} ms, or ms; 0: never)`,
      access: "change",
      async run({ words, rest }) {
        let first = 0;
        let ms = SERVICE_DEADLINE_MS;
        if (words[0] === "--timeout") {
          ms = Number(words[1]);
          if (words[1] === undefined || !Number.isInteger(ms) || ms < 0) throw new ConsoleError(`--timeout needs a whole number of ms (0: no deadline), not ${words[1] ?? "nothing"}`);
          first = 2;
        }
        const handle = await address(words[first]);
        const cmd = words[first + 1];
        if (cmd === undefined) throw new ConsoleError("usage: call [--timeout ms] address cmd [args...]");
        const args = scanValues(rest(first + 2));
        const longer = `; the command may still run; call --timeout <ms> waits longer, --timeout 0 as long as it takes`;
        const result = await ask.call(handle, ms, cmd, args, longer);
        return result === undefined ? [] : [json(result)];
      },
    },

    ping: {
      usage: "ping address",
      help: "a round trip through the service's mailbox, in ms",
      access: "read",
      async run({ words }) {
        const handle = await address(words[0]);
        const start = performance.now();
        await ask.debug(handle, { cmd: "ping" });
        return [`${formatHandle(handle)}  pong  ${(performance.now() - start).toFixed(3)} ms`];
      },
    },

    task: {
      usage: "task address",
      help: "the service's pending calls, the answers it owes, its timers, forks and waits",
      access: "read",
      async run({ words }) {
        const handle = await address(words[0]);
        const report = await ask.debug<TaskReport>(handle, { cmd: "task" });
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
      access: "read",
      async run() {
        const uniques = await ask.launcher<{ name: string; handle: Handle }[]>("uniques");
        if (uniques.length === 0) return ["no unique service has been started"];
        return table(uniques.sort((a, b) => (a.name < b.name ? -1 : 1)).map((u) => [u.name, formatHandle(u.handle)]));
      },
    },

    netstat: {
      usage: "netstat [address]",
      help: "connections of every gate (or of the gateserver at address): fd, peer, bytes, backlog; a summary line per gate",
      access: "read",
      async run({ words }) {
        const gates = words[0] !== undefined ? [await address(words[0])] : (await launcherList()).filter((r) => r.name === "gate" || r.name === "wsgate").map((r) => r.handle);
        if (gates.length === 0) return ["no gate is running"];
        return netstatLines(ask, gates, words[0] !== undefined);
      },
    },

    getenv: {
      usage: "getenv key",
      help: "a config key or setenv value, as JSON",
      access: "read",
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
      access: "change",
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
      access: "change",
      async run({ words }) {
        const handle = await address(words[0]);
        await ask.debug(handle, { cmd: "logon" });
        return [`${formatHandle(handle)} logging on`];
      },
    },

    logoff: {
      usage: "logoff address",
      help: "stops logging the service's messages",
      access: "change",
      async run({ words }) {
        const handle = await address(words[0]);
        await ask.debug(handle, { cmd: "logoff" });
        return [`${formatHandle(handle)} logging off`];
      },
    },
  };

  return {
    access: (name) => (Object.hasOwn(commands, name) ? commands[name]!.access : undefined),

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
