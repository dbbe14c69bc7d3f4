/**
 * skynet's examples/agent.lua: one per client. Answers handshake, get, set, echo and quit over
 * the client protocol (examples/proto.ts), uses simpledb, and pushes a heartbeat every 5 s.
 */
import { clientWriter, defaults, defineService, type Handle } from "weft";
import { decode, encode, type Push } from "./proto.js";
import type SimpleDb from "./simpledb.js";

interface Start {
  gate: Handle;
  client: number;
  /** The watchdog's address or name (".watchdog": a restarted watchdog keeps it). */
  watchdog: Handle | string;
}

export default defineService((svc) => {
  let gate: Handle = 0;
  let fd = 0;
  let watchdog: Handle | string = 0;
  const db = svc.proxy<typeof SimpleDb>(".simpledb");

  const heartbeatMs = svc.getenv<number>("heartbeat") ?? 5000;
  const requests: Record<string, (args: any) => unknown> = {
    handshake: () => ({ msg: `Welcome to weft, I will send heartbeat every ${heartbeatMs / 1000} sec.` }),
    get: async ({ what }: { what: string }) => ({ result: await db.get(String(what)) }),
    set: async ({ what, value }: { what: string; value: unknown }) => {
      await db.set(String(what), value);
      return {};
    },
    echo: (args: unknown) => args,
    quit: async () => {
      // Requests sent before quit are answered first (this one joins `pending` only after
      // this await, so it does not wait for itself); once its own answer is written, the
      // watchdog closes the connection and ends this agent.
      await Promise.allSettled([...pending]);
      quitting = true;
      return {};
    },
  };

  /** Requests being answered: quit waits for them. */
  const pending = new Set<Promise<void>>();

  let quitting = false;

  const frame = (message: Parameters<typeof encode>[0]): Buffer => {
    const bytes = encode(message);
    // A reply the 2-byte frame cannot carry becomes an error the client can read.
    return bytes.length <= defaults.packetMax ? bytes : encode([message[0], null, `the reply is ${bytes.length} bytes; a packet holds at most ${defaults.packetMax}`]);
  };
  /** The gate's reply lane to this client (set in start): one-way, the fd in the message's header. */
  let toClient: (packet: Uint8Array) => void = () => {};
  const write = (message: Parameters<typeof encode>[0]) => toClient(frame(message));

  async function answer(msg: Buffer): Promise<void> {
    let session = 0;
    try {
      const [s, name, args] = decode(msg) as [number, string, unknown];
      session = s;
      const request = requests[name];
      if (!Object.hasOwn(requests, name) || !request) throw new Error(`unknown request "${name}"`);
      const result = (await request(args ?? {})) ?? null;
      if (!quitting) {
        write([session, result]);
        return;
      }
      // The last answer is written before the watchdog is asked to close the connection: a
      // call, answered once the gate has it (the watchdog's kick takes another way to the gate).
      await svc.call(gate, "write", fd, frame([session, result]));
      svc.send(watchdog, "close", fd, gate);
    } catch (err) {
      write([session, null, (err as Error).message]);
    }
  }

  // The promise is returned so that the runtime counts the request as running until it is
  // answered: the gate stops reading this client while too many are (backpressure).
  svc.dispatch("client", (msg: Buffer) => {
    const done = answer(msg);
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return done;
  });

  return {
    async start(conf: Start): Promise<void> {
      ({ gate, client: fd, watchdog } = conf);
      toClient = clientWriter(svc, gate, fd);
      await svc.call(gate, "forward", fd);
      const beat = () => {
        // After quit the answer to it is the last thing the client gets.
        if (quitting) return;
        write([0, "heartbeat", {}] satisfies Push);
        svc.timeout(heartbeatMs, beat);
      };
      svc.timeout(heartbeatMs, beat);
    },
    disconnect(): void {
      void svc.exit();
    },
  };
});
