/**
 * How the console asks threads and services: every request with a deadline. A thread busy in
 * one handler (an endless loop, a long computation) answers nothing until it comes back; a
 * console that waited for it would hang with it. So each request gives up after its deadline
 * with a NoAnswerError naming who did not answer, and a command that asks every thread prints
 * what the others answered plus one line for each that did not.
 */
import { formatHandle, type DebugRequest, type Handle, type Service } from "weft";
import { hostHandle, slotOf, type SystemRequest } from "weft/internal";
import { ConsoleError, errorText } from "./text.js";

/**
 * Requests a thread's system endpoint or the launcher answers (stat, mem, gc, list, kill,
 * service): at once, unless the thread is busy in a handler.
 */
export const THREAD_DEADLINE_MS = 3000;

/**
 * Requests answered in a service's mailbox, behind the messages it already holds, or by the
 * service's own code: ping, task, info, exit, logon, logoff, start, netstat's gate commands,
 * and call unless it says otherwise (`call --timeout ms`).
 */
export const SERVICE_DEADLINE_MS = 10_000;

/** Who did not answer in time: `worker 1`, or `:0100000a on worker 1`. */
export class NoAnswerError extends ConsoleError {
  override name = "NoAnswerError";
  constructor(who: string, ms: number, then = "") {
    super(`${who}: no answer within ${ms} ms (busy in a handler? see the log)${then}`);
  }
}

/**
 * The answer to `asking`, a request made with deadline `ms` (svc.withTimeout(ms)); its
 * CallTimeoutError becomes a NoAnswerError naming `who`, `then` saying what happens next.
 */
export async function answerWithin<T>(asking: Promise<unknown>, who: string, ms: number, then?: string): Promise<T> {
  try {
    return (await asking) as T;
  } catch (err) {
    if ((err as { code?: unknown }).code === "WEFT_CALL_TIMEOUT") throw new NoAnswerError(who, ms, then);
    throw err;
  }
}

/** Like answerWithin, for work that takes no deadline of its own (newService): the work goes on. */
export function raceDeadline<T>(work: Promise<T>, who: string, ms: number, then?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new NoAnswerError(who, ms, then)), ms)));
  // The work may fail after the deadline, when nobody waits for it any more.
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** One thread's answer to a request sent to every thread, or the line saying why there is none. */
export interface ThreadAnswer<T> {
  worker: number;
  value?: T;
  note?: string;
}

export type Asker = ReturnType<typeof consoleAsker>;

export function consoleAsker(svc: Service) {
  const threads = svc.withTimeout(THREAD_DEADLINE_MS);
  const services = svc.withTimeout(SERVICE_DEADLINE_MS);
  /** Worker 0 is the main thread; 1..thread are the worker threads. */
  const workerName = (w: number) => (w === 0 ? "main" : `worker ${w}`);
  const serviceName = (handle: Handle) => `${formatHandle(handle)} on ${workerName(slotOf(handle))}`;
  const workers = () => Array.from({ length: (Number(svc.getenv("thread")) || 1) + 1 }, (_, w) => w);

  const ask = {
    workerName,
    serviceName,

    /** A request to a thread's system endpoint. */
    system<T>(worker: number, request: SystemRequest, then?: string): Promise<T> {
      return answerWithin<T>(threads.rawCall(hostHandle(worker), "system", request), workerName(worker), THREAD_DEADLINE_MS, then);
    },

    /**
     * Kills a service. The kill goes through the kernel (as svc.kill does): a service on a
     * worker busy past endlessLoop is ended by replacing its worker at once; otherwise the
     * kernel passes the kill to the service's worker, which is who may not answer.
     */
    kill(handle: Handle, then?: string): Promise<boolean> {
      const asking = threads.rawCall(hostHandle(0), "system", { op: "kill", handle } satisfies SystemRequest);
      return answerWithin<boolean>(asking, workerName(slotOf(handle)), THREAD_DEADLINE_MS, then);
    },

    /** Asks every thread; one that fails (busy, lost, restarting) gets a note, not a failed command. */
    async everyWorker<T>(request: SystemRequest): Promise<ThreadAnswer<T>[]> {
      const settled = await Promise.allSettled(workers().map((w) => ask.system<T>(w, request)));
      return settled.map((r, worker) => {
        if (r.status === "fulfilled") return { worker, value: r.value };
        return { worker, note: r.reason instanceof NoAnswerError ? r.reason.message : `${workerName(worker)}: ${errorText(r.reason)}` };
      });
    },

    /** A command of the launcher (on the main thread: it answers at once). */
    launcher<T>(cmd: string, ...args: unknown[]): Promise<T> {
      return answerWithin<T>(threads.call(".launcher", cmd, ...args), "the launcher", THREAD_DEADLINE_MS);
    },

    /** A request of the debug protocol, answered in the service's mailbox. */
    debug<T>(handle: Handle, request: DebugRequest): Promise<T> {
      return answerWithin<T>(services.rawCall(handle, "debug", request), serviceName(handle), SERVICE_DEADLINE_MS);
    },

    /** A command of a service, with a deadline of `ms` (0: none, as skynet's call). */
    call<T>(handle: Handle, ms: number, cmd: string, args: unknown[], then?: string): Promise<T> {
      const asking = svc.withTimeout(ms).call(handle, cmd, ...args);
      return answerWithin<T>(asking, `${serviceName(handle)}, asked "${cmd}"`, ms, then);
    },
  };
  return ask;
}
