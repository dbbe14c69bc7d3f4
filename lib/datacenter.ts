/**
 * A node-wide tree of values (skynet's datacenter), kept by the `datacenterd` service:
 *
 *   const dc = datacenter(svc);
 *   await dc.set("config", "world", { seed: 7 });
 *   await dc.get("config", "world", "seed");        // 7
 *   await dc.wait("room", 12, "owner");             // resolves when someone sets it
 *
 * Values are copied on the way in and out, as any message is.
 */
import type { Service } from "../runtime/context.js";
import type { Address } from "../runtime/define.js";
import type Datacenterd from "../services/datacenterd.js";
import type { Key } from "../services/datacenterd.js";

export type { Key as DatacenterKey };

export interface Datacenter {
  get<T = unknown>(...path: Key[]): Promise<T | undefined>;
  /** `set(...path, value)`; null or undefined removes the key. Resolves with the value replaced. */
  set(...pathAndValue: [...path: Key[], value: unknown]): Promise<unknown>;
  /** Resolves with the value at path as soon as it has one. */
  wait<T = unknown>(...path: Key[]): Promise<T>;
}

export function datacenter(svc: Service): Datacenter {
  let address: Promise<Address<typeof Datacenterd>> | undefined;
  const center = () => {
    if (address === undefined) {
      address = svc.uniqueService<typeof Datacenterd>("datacenterd");
      address.catch(() => (address = undefined)); // a failed start is tried again next time
    }
    return address;
  };
  return {
    get: async (...path) => (await svc.call(await center(), "get", ...path)) as never,
    set: async (...pathAndValue) => svc.call(await center(), "set", ...pathAndValue),
    wait: async (...path) => (await svc.call(await center(), "wait", ...path)) as never,
  };
}
