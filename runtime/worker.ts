/**
 * The piscina task that turns a worker thread into a host. It runs for the life of the worker:
 * one task per worker, resolved only at shutdown.
 */
import createDebug from "debug";
import { defaults } from "./defaults.js";
import { hostHandle } from "./handle.js";
import { Host, type HostOptions } from "./host.js";
import { Stamp } from "./monitor.js";
import type { Link } from "./rings.js";
import { PROTO, type Control } from "./protocol.js";
import { answerHostRequest } from "./system.js";
import { containFaults } from "./faults.js";
import { threadId } from "node:worker_threads";

const trace = createDebug("weft:host");

/** A host's options as they cross to the worker: shared memory as buffers, not views. */
export interface HostTask extends Omit<HostOptions, "counters" | "doorbells" | "loads" | "stamp"> {
  /** One link per other live slot (0 is the kernel), keyed by slot. */
  links: Record<number, Link>;
  counters: SharedArrayBuffer;
  doorbells: SharedArrayBuffer;
  loads: SharedArrayBuffer;
  stamps: SharedArrayBuffer;
}

export default async function hostTask(task: HostTask): Promise<number> {
  const host = new Host({
    slot: task.slot,
    counters: new Int32Array(task.counters),
    doorbells: new Int32Array(task.doorbells),
    loads: new Int32Array(task.loads),
    servicePath: task.servicePath,
    env: task.env,
    names: task.names,
    startTime: task.startTime,
    stamp: new Stamp(task.stamps, task.slot, Number(task.env.endlessLoop) || defaults.endlessLoopMs),
  });
  for (const [slot, link] of Object.entries(task.links)) host.rings.attach(Number(slot), link);

  const finished = new Promise<void>((resolve) => {
    host.onControl = (message: Control) => {
      switch (message.control) {
        case "link":
          host.rings.offer(message.slot, message.link as Link);
          break;
        case "shutdown":
          resolve();
          break;
      }
    };
  });
  host.onSystem((request) => answerHostRequest(host, request));
  containFaults(host);
  // The thread id lets the kernel find this worker to terminate it if it gets stuck.
  host.post(hostHandle(0), host.system.handle, 0, PROTO.system, "", { op: "ready", slot: task.slot, threadId });
  trace("slot %d: ready", task.slot);

  await finished;
  host.rings.close();
  host.stamp?.close();
  trace("slot %d: stopped", task.slot);
  return task.slot;
}
