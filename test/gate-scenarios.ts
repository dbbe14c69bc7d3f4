/**
 * Scenarios the TCP gate and the websocket gate must pass alike: gate.test.ts and
 * wsgate.test.ts each run them against their own gate and client, so an agent truly cannot
 * tell which gate it is behind.
 */
import { expect } from "vitest";
import type { ConnectionInfo, Handle, Runtime } from "weft";
import type Agent from "./fixtures/net_agent.js";
import type { AgentOptions } from "./fixtures/net_agent.js";
import type { SocketEvent, SocketEventKind } from "./fixtures/net_watchdog.js";
import { bytesOf, packetsNow, packetsOf } from "./gate-harness.js";
import { pattern, quietFor } from "./net-client.js";

/** What the scenarios need of a client: the TCP and the websocket client both have it. */
interface Sender {
  peer: string;
  send(...payloads: (Uint8Array | string)[]): Promise<void>;
}

/** What the scenarios use of gate-harness's openGate. */
interface GateUnderTest<C extends Sender> {
  rt: Runtime;
  gate: Handle;
  wd: Handle;
  connect(): Promise<C>;
  fdOf(client: C): Promise<number>;
  newAgent(fd: number, opts?: AgentOptions): Promise<Handle>;
  connection(fd: number): Promise<ConnectionInfo | undefined>;
  until(kind: SocketEventKind, n: number, fd?: number): Promise<SocketEvent[]>;
  events(kind?: SocketEventKind, fd?: number): Promise<SocketEvent[]>;
}

/**
 * Nothing is read before forward; then what waited arrives whole and in order. `frameBytes` is
 * what the gate counts in `bytesIn` per packet besides its payload (the TCP gate's 2-byte header).
 */
export async function readsNothingBeforeForward<C extends Sender>(g: GateUnderTest<C>, frameBytes: number): Promise<void> {
  const client = await g.connect();
  await client.send("one", "two", pattern(5000, 3));
  const fd = await g.fdOf(client);
  const agent = await g.newAgent(fd, { forward: false });

  await quietFor(200);
  expect(await packetsNow(g.rt, agent)).toEqual([]);
  expect(await g.connection(fd)).toMatchObject({ open: false, bytesIn: 0 });

  expect(await g.rt.call<typeof Agent>(agent, "forward")).toBe(true);
  await client.send("four");
  expect(await packetsOf(g.rt, agent, 4)).toEqual([Buffer.from("one"), Buffer.from("two"), pattern(5000, 3), Buffer.from("four")]);
  expect(await g.connection(fd)).toMatchObject({ open: true, bytesIn: 3 + 3 + 5000 + 4 + 4 * frameBytes });
}

/** An accepted connection's packets go to the watchdog, a forwarded one's to the agent, from `client`. */
export async function acceptOrForward<C extends Sender>(g: GateUnderTest<C>): Promise<void> {
  const accepted = await g.connect();
  const forwarded = await g.connect();
  const fdA = await g.fdOf(accepted);
  const fdF = await g.fdOf(forwarded);
  const agent = await g.newAgent(fdF, { forward: false });

  expect(await g.rt.call(g.gate, "accept", fdA)).toBe(true);
  expect(await g.rt.call(g.gate, "forward", fdF, g.wd, agent)).toBe(true);
  await accepted.send("for", "the watchdog");
  await forwarded.send("for", "the agent");

  expect(bytesOf(await g.until("data", 2, fdA))).toEqual([Buffer.from("for"), Buffer.from("the watchdog")]);
  expect(await packetsOf(g.rt, agent, 2)).toEqual([Buffer.from("for"), Buffer.from("the agent")]);
  // The packets appear to come from the `client` address given to forward.
  expect(await g.rt.call<typeof Agent>(agent, "sources")).toEqual([g.wd, g.wd]);
  // One more packet on the accepted connection: anything the gate told the watchdog about the
  // forwarded one would have arrived before it.
  await accepted.send("marker");
  await g.until("data", 3, fdA);
  expect(await g.events("data", fdF)).toEqual([]);
  expect(await g.rt.call(g.gate, "forward", 999, 0, agent)).toBe(false);
  expect(await g.rt.call(g.gate, "accept", 999)).toBe(false);
}
