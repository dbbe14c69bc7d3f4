/**
 * The agent's reply lane (issue 16, part 4): an agent answers its client with a one-way `client`
 * message whose session is the fd (`clientWriter`, or svc.redirect), and the gate writes it if
 * the sender owns that fd (its agent) or is the watchdog. The other way, each packet reaches the
 * agent with the fd as its session. Real sockets, real worker threads, the TCP and websocket gates.
 */
import { describe, expect, it } from "vitest";
import type { Handle, Runtime } from "weft";
import type LaneAgent from "./fixtures/lane_agent.js";
import { logFile, rejectionOf, startRuntime } from "./helpers.js";
import { NetClient } from "./net-client.js";
import { WsClient } from "./ws-client.js";

/** A gate on `gateWorker` whose watchdog is a lane_agent on the other worker; answers both and the port. */
async function laneGate(rt: Runtime, service: "gate" | "wsgate" = "gate", gateWorker = 1) {
  const gate = await rt.newServiceOn(gateWorker, service);
  const watchdog = await rt.newServiceOn<typeof LaneAgent>(gateWorker === 1 ? 2 : 1, "lane_agent");
  const port = await rt.call(watchdog, "open", gate);
  return { gate, watchdog, port };
}

/** A client connected and served by a new lane agent on `worker`; answers the client, its fd and its agent. */
async function served(rt: Runtime, gate: Handle, watchdog: Handle, port: number, n: number, worker: number, echo = true) {
  const client = await NetClient.connect(port);
  const fds = await rt.call(watchdog, "openedUntil", n);
  const fd = fds[n - 1]!;
  const agent = await rt.newServiceOn<typeof LaneAgent>(worker, "lane_agent");
  await rt.call(agent, "serve", gate, fd, { echo });
  return { client, fd, agent };
}

describe("the reply lane", () => {
  for (const worker of [1, 2]) {
    it(`carries an agent's answers to its client (agent on worker ${worker}, gate on worker 1), and the fd reaches the agent as the session`, async () => {
      const rt = await startRuntime();
      const { gate, watchdog, port } = await laneGate(rt);
      const { client, fd, agent } = await served(rt, gate, watchdog, port, 1, worker);

      await client.send("one", "two", "");
      expect(await client.waitPackets(3)).toEqual([Buffer.from("one"), Buffer.from("two"), Buffer.alloc(0)]);
      const seen = await rt.call(agent, "seenUntil", 3);
      expect(seen.map((s) => s.session)).toEqual([fd, fd, fd]);
    });
  }

  it("works the same through the websocket gate", async () => {
    const rt = await startRuntime();
    const { gate, watchdog, port } = await laneGate(rt, "wsgate");
    const client = await WsClient.connect(port);
    const [fd] = await rt.call(watchdog, "openedUntil", 1);
    const agent = await rt.newServiceOn<typeof LaneAgent>(2, "lane_agent");
    await rt.call(agent, "serve", gate, fd!, { echo: true });
    await client.send(Buffer.from("over websocket"));
    expect(await client.waitMessages(1)).toEqual([Buffer.from("over websocket")]);
  });

  it("drops a packet for an fd its sender does not own, says so in the log, and the owner's packets still go", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { gate, watchdog, port } = await laneGate(rt);
    const a = await served(rt, gate, watchdog, port, 1, 2, false);
    const b = await served(rt, gate, watchdog, port, 2, 2, false);

    // b's agent writes to a's connection: refused. Both agents live on worker 2, so what a's
    // agent writes after this reaches the gate after it.
    await rt.call(b.agent, "writeTo", gate, a.fd, "not yours");
    await rt.call(a.agent, "writeTo", gate, a.fd, "mine");

    expect(await a.client.waitPackets(1)).toEqual([Buffer.from("mine")]);
    await log.waitFor(new RegExp(`a packet for fd ${a.fd} from :02[0-9a-f]{6}, which is neither its agent nor the watchdog: dropped`));
    expect(b.client.packets).toEqual([]);
  });

  it("drops a packet for a closed fd, or one that never was, without a word, and the gate serves on", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { gate, watchdog, port } = await laneGate(rt);
    const gone = await served(rt, gate, watchdog, port, 1, 2, false);
    const other = await served(rt, gate, watchdog, port, 2, 2, true);

    gone.client.socket.destroy();
    await gone.client.closed;
    await rt.call(watchdog, "closedUntil", gone.fd);
    await rt.call(gone.agent, "writeTo", gate, gone.fd, "too late");
    await rt.call(gone.agent, "writeTo", gate, 9999, "nobody");

    await other.client.send("still here");
    expect(await other.client.waitPackets(1)).toEqual([Buffer.from("still here")]);
    expect(log.lines().filter((l) => /a packet for fd|refused/.test(l))).toEqual([]);
  });

  it("takes the watchdog's packets for a connection it accepted", async () => {
    const rt = await startRuntime();
    const { gate, watchdog, port } = await laneGate(rt);
    const client = await NetClient.connect(port);
    const [fd] = await rt.call(watchdog, "openedUntil", 1);
    expect(await rt.call(watchdog, "accept", fd!)).toBe(true);
    await rt.call(watchdog, "writeTo", gate, fd!, "from the watchdog");
    expect(await client.waitPackets(1)).toEqual([Buffer.from("from the watchdog")]);
  });

  it("refuses a call: a call's session is not an fd", async () => {
    const rt = await startRuntime();
    const { gate } = await laneGate(rt);
    const err = await rejectionOf(rt.rawCall(gate, "client", "hello"));
    expect(err).toMatchObject({ code: "WEFT_REMOTE_ERROR", cause: { code: "WEFT_USAGE", message: expect.stringContaining("one-way") } });
  });

  it("logs a packet too large for a frame, once per kind within the rate, and keeps the connection", async () => {
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const { gate, watchdog, port } = await laneGate(rt);
    const a = await served(rt, gate, watchdog, port, 1, 2, false);
    await rt.call(a.agent, "writeTo", gate, a.fd, "x".repeat(70_000));
    await log.waitFor(new RegExp(`a packet for fd ${a.fd} from :02[0-9a-f]{6} refused: .*65535`));
    await rt.call(a.agent, "writeTo", gate, a.fd, "fits");
    expect(await a.client.waitPackets(1)).toEqual([Buffer.from("fits")]);
  });

  it("leaves the write command as it was", async () => {
    const rt = await startRuntime();
    const { gate, watchdog, port } = await laneGate(rt);
    const a = await served(rt, gate, watchdog, port, 1, 2, false);
    expect(await rt.call(gate, "write", a.fd, "by command")).toBe(true);
    expect(await a.client.waitPackets(1)).toEqual([Buffer.from("by command")]);
  });
});
