/**
 * The example's command-line client (skynet's examples/client.lua): type `handshake`,
 * `get hello`, `set hello world`, `echo anything`, `quit`. Answers and server pushes (the
 * heartbeat) are printed as they come. `wait <ms>` pauses (useful in a script).
 *
 *   npm run client -- [--host 127.0.0.1] [--port 8888] [--script "handshake; get hello; quit"]
 *
 * With --script the commands run one after another, each waiting for its answer, and the
 * client exits when the server closes the connection or the script is done (code 1 on error).
 */
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { netpack } from "weft";
import { decode, encode } from "./proto.js";

const { values: options } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8888" },
    script: { type: "string" },
  },
});

/** `set hello world` → ["set", { what: "hello", value: "world" }]. */
function parseCommand(line: string): [string, unknown] | undefined {
  const [name, ...words] = line.trim().split(/\s+/);
  if (!name) return undefined;
  const rest = words.join(" ");
  switch (name) {
    case "get":
      return ["get", { what: words[0] }];
    case "set":
      return ["set", { what: words[0], value: words.slice(1).join(" ") }];
    case "echo":
      try {
        return ["echo", JSON.parse(rest)];
      } catch {
        return ["echo", rest];
      }
    default:
      return [name, rest ? { text: rest } : {}];
  }
}

const show = (value: unknown) => JSON.stringify(value);

function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

async function main(): Promise<number> {
  const port = Number(options.port);
  let socket: Socket;
  try {
    socket = await open(options.host!, port);
  } catch (err) {
    console.error(`cannot connect to ${options.host}:${port}: ${(err as Error).message}. Is the server running? (npm start)`);
    return 1;
  }
  socket.setNoDelay(true);
  const queue = netpack.createQueue();
  const waiting = new Map<number, () => void>();
  let session = 0;
  let failed = false;

  const onPacket = (msg: Buffer) => {
    let s: unknown, result: unknown, error: unknown;
    try {
      [s, result, error] = decode(msg);
    } catch (err) {
      console.log(`unreadable packet from the server: ${(err as Error).message}`);
      return;
    }
    if (s === 0) console.log(`push ${String(result)} ${show(error)}`);
    else if (error !== undefined) {
      failed = true;
      console.log(`error #${s}: ${String(error)}`);
    } else console.log(`response #${s}: ${show(result)}`);
    waiting.get(s as number)?.();
    waiting.delete(s as number);
  };
  socket.on("data", (data: Buffer) => {
    const result = netpack.filter(queue, { type: "data", fd: 1, data });
    if (result?.type === "data") onPacket(result.msg);
    else if (result?.type === "more") for (let p = netpack.pop(queue); p; p = netpack.pop(queue)) onPacket(p.msg);
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", (err) => console.error(`connection error: ${err.message}`));

  const request = (line: string): Promise<void> => {
    const command = parseCommand(line);
    if (!command) return Promise.resolve();
    // `wait <ms>` is the client's own: a pause in a script (to see heartbeats, say).
    if (command[0] === "wait") return new Promise((resolve) => setTimeout(resolve, Number((command[1] as { text?: string }).text) || 0));
    const s = ++session;
    socket.write(netpack.pack(encode([s, command[0], command[1]])));
    return new Promise((resolve) => waiting.set(s, resolve));
  };

  if (options.script !== undefined) {
    for (const line of options.script.split(";")) {
      if (socket.destroyed) break;
      await Promise.race([request(line), closed]);
    }
    socket.end();
    await closed;
    return failed ? 1 : 0;
  }

  console.log(`connected to ${options.host}:${port}; type handshake, get <key>, set <key> <value>, echo <text>, quit`);
  const input = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  input.on("line", (line) => void request(line));
  input.on("close", () => socket.end());
  await closed;
  input.close();
  console.log("connection closed");
  return 0;
}

main().then((code) => (process.exitCode = code));
