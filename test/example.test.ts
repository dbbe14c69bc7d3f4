/**
 * The watchdog example end to end, as a new user meets it: the runtime from examples/, the
 * command-line client in --script mode, two clients sharing simpledb, agents gone after quit.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { netpack } from "weft";
import { startExample } from "./helpers.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs examples/client.js with a script; resolves with its exit code and output. */
function client(port: number, script: string): Promise<{ code: number | null; out: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["dist/examples/client.js", "--port", String(port), "--script", script], { cwd: root });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out: out.split("\n").filter(Boolean) }));
  });
}

/** The example over TCP, and the port its gate listens on. */
async function startTcpExample(config: Record<string, unknown> = {}) {
  const { rt, log, portOf } = await startExample(config);
  const port = await portOf(/Watchdog listen on 127\.0\.0\.1:(\d+)$/);
  const agents = async () => (await rt.list()).filter((r) => r.name === "agent");
  return { rt, log, port, agents };
}

describe("the watchdog example", () => {
  it("serves two clients that share simpledb, and ends each agent when its client quits", async () => {
    const { port, agents } = await startTcpExample();
    const first = await client(port, "handshake; set hello world; echo {\"n\":[1,2]}; quit");
    expect(first.code).toBe(0);
    expect(first.out).toEqual([
      'response #1: {"msg":"Welcome to weft, I will send heartbeat every 5 sec."}',
      "response #2: {}",
      'response #3: {"n":[1,2]}',
      "response #4: {}",
    ]);
    const second = await client(port, "get hello; quit");
    expect(second.out).toEqual(['response #1: {"result":"world"}', "response #2: {}"]);
    // Each agent exits once its client has gone: none is left behind.
    const deadline = Date.now() + 5000;
    while ((await agents()).length > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(await agents()).toEqual([]);
  });

  it("answers a bad request with an error and pushes heartbeats", async () => {
    // 20 heartbeats due in the 400 ms wait: three arrive even on a loaded machine.
    const { port } = await startTcpExample({ heartbeat: 20 });
    const run = await client(port, "nonsense; wait 400; quit");
    expect(run.code).toBe(1);
    expect(run.out[0]).toBe('error #1: unknown request "nonsense"');
    expect(run.out.filter((l) => l === "push heartbeat {}").length).toBeGreaterThanOrEqual(3);
    expect(run.out.at(-1)).toBe("response #2: {}");
  });

  it("answers every request sent before quit, even when they come in one burst", async () => {
    const { port } = await startTcpExample();
    const packr = new Packr({ useRecords: false });
    const socket = connect({ host: "127.0.0.1", port });
    await once(socket, "connect");
    const queue = netpack.createQueue();
    const replies: unknown[] = [];
    socket.on("data", (data: Buffer) => {
      const result = netpack.filter(queue, { type: "data", fd: 1, data });
      if (result?.type === "data") replies.push(packr.unpack(result.msg));
      else if (result?.type === "more") for (let p = netpack.pop(queue); p; p = netpack.pop(queue)) replies.push(packr.unpack(p.msg));
    });
    const requests = [[1, "set", { what: "k", value: "v" }], [2, "get", { what: "k" }], [3, "quit", {}]];
    socket.write(Buffer.concat(requests.map((r) => netpack.pack(packr.pack(r)))));
    await once(socket, "close");
    expect(replies).toEqual([[1, {}], [2, { result: "v" }], [3, {}]]);
  });

  it("tells the user plainly when no server answers", async () => {
    const { port, rt } = await startTcpExample();
    await rt.stop();
    const run = await client(port, "handshake");
    expect(run.code).toBe(1);
    expect(run.out.join("\n")).toMatch(/cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*Is the server running\?/);
  });
});
