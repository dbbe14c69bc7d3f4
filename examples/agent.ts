/**
 * skynet's examples/agent.lua: one per client. Answers handshake, get, set, echo and quit over
 * the client protocol (examples/proto.ts), uses simpledb, and pushes a heartbeat every 5 s.
 */
import { defineService, type Handle } from "weft";
import { decode, encode, type Push } from "./proto.js";
import type SimpleDb from "./simpledb.js";

interface Start {
  gate: Handle;
  client: number;
  watchdog: Handle;
}

export default defineService((svc) => {
  let gate: Handle = 0;
  let fd = 0;
  let watchdog: Handle = 0;
  const db = svc.proxy<typeof SimpleDb>(".simpledb");

  const requests: Record<string, (args: any) => unknown> = {
    handshake: () => ({ msg: "Welcome to weft, I will send heartbeat every 5 sec." }),
    get: async ({ what }: { what: string }) => ({ result: await db.get(String(what)) }),
    set: async ({ what, value }: { what: string; value: unknown }) => {
      await db.set(String(what), value);
      return {};
    },
    echo: (args: unknown) => args,
    quit: () => {
      // Answered first; the watchdog then closes the connection and ends this agent.
      svc.fork(() => svc.send(watchdog, "close", fd));
      return {};
    },
  };

  const write = (message: Parameters<typeof encode>[0]) => svc.send(gate, "write", fd, encode(message));

  svc.dispatch("client", async (msg: Buffer) => {
    let session = 0;
    try {
      const [s, name, args] = decode(msg) as [number, string, unknown];
      session = s;
      const request = requests[name];
      if (!Object.hasOwn(requests, name) || !request) throw new Error(`unknown request "${name}"`);
      write([session, (await request(args ?? {})) ?? null]);
    } catch (err) {
      write([session, null, (err as Error).message]);
    }
  });

  return {
    async start(conf: Start): Promise<void> {
      ({ gate, client: fd, watchdog } = conf);
      await svc.call(gate, "forward", fd);
      const every = svc.getenv<number>("heartbeat") ?? 5000;
      const beat = () => {
        write([0, "heartbeat", {}] satisfies Push);
        svc.timeout(every, beat);
      };
      svc.timeout(every, beat);
    },
    disconnect(): void {
      void svc.exit();
    },
  };
});
