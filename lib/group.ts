/**
 * A named set of client connections (nano's Group), kept by the service that owns it (a room, a
 * channel). A member is a connection of a gate: `(gate, fd)`, plus a tag of your own (a user
 * id) that `multicast` filters can read.
 *
 *   const room = group(svc, "room-7");
 *   room.add(gate, fd, { uid });
 *   await room.broadcast(packet);                      // every member
 *   await room.multicast(packet, (m) => m.tag.uid !== speaker);
 *
 * A broadcast sends one message per gate holding the packet once and the list of that gate's
 * members, and the gate writes it to each of them: the packet never passes through the agents.
 * Members whose connection the gate no longer has are dropped from the group as it answers.
 */
import type { Service } from "../runtime/context.js";
import { isGone, UsageError } from "../runtime/errors.js";
import type { Handle } from "../runtime/handle.js";

export interface Member<Tag = unknown> {
  readonly gate: Handle;
  readonly fd: number;
  readonly tag: Tag;
}

export interface Group<Tag = unknown> {
  readonly name: string;
  /** Adds a connection; false if it was a member already (its tag is then replaced). */
  add(gate: Handle, fd: number, tag?: Tag): boolean;
  /** Removes a connection; false if it was not a member. */
  leave(gate: Handle, fd: number): boolean;
  has(gate: Handle, fd: number): boolean;
  members(): Member<Tag>[];
  count(): number;
  /** Writes the packet to every member; resolves with how many connections it reached. */
  broadcast(packet: Uint8Array | string): Promise<number>;
  /** Writes the packet to the members `filter` accepts. */
  multicast(packet: Uint8Array | string, filter: (member: Member<Tag>) => boolean): Promise<number>;
  /** Empties the group; any later use throws WEFT_USAGE. */
  close(): void;
}

export function group<Tag = unknown>(svc: Service, name: string): Group<Tag> {
  /** Members by gate, then by fd: a broadcast walks it gate by gate. */
  const byGate = new Map<Handle, Map<number, Member<Tag>>>();
  let closed = false;

  const live = () => {
    if (closed) throw new UsageError(`group "${name}" is closed`);
  };

  function leave(gate: Handle, fd: number): boolean {
    live();
    const fds = byGate.get(gate);
    if (!fds?.delete(fd)) return false;
    if (fds.size === 0) byGate.delete(gate);
    return true;
  }

  async function write(packet: Uint8Array | string, pick: (fds: Map<number, Member<Tag>>) => number[]): Promise<number> {
    live();
    const sends: Promise<number>[] = [];
    for (const [gate, fds] of byGate) {
      const targets = pick(fds);
      if (targets.length === 0) continue;
      sends.push(
        svc.call(gate, "multiwrite", targets, packet).then(
          (result) => {
            const gone = result as number[];
            if (!closed) for (const fd of gone) leave(gate, fd);
            return targets.length - gone.length;
          },
          (err: unknown) => {
            // A gate that is gone has no connections left: its members go with it. Any other
            // failure (a packet over the gate's limit) is the caller's to hear, members intact.
            if (!isGone(err)) throw err;
            if (!closed) byGate.delete(gate);
            return 0;
          },
        ),
      );
    }
    let written = 0;
    for (const n of await Promise.all(sends)) written += n;
    return written;
  }

  return {
    name,
    add(gate, fd, tag) {
      live();
      let fds = byGate.get(gate);
      if (fds === undefined) byGate.set(gate, (fds = new Map()));
      const fresh = !fds.has(fd);
      fds.set(fd, { gate, fd, tag: tag as Tag });
      return fresh;
    },
    leave,
    has: (gate, fd) => byGate.get(gate)?.has(fd) ?? false,
    members: () => [...byGate.values()].flatMap((fds) => [...fds.values()]),
    count: () => {
      let n = 0;
      for (const fds of byGate.values()) n += fds.size;
      return n;
    },
    broadcast: (packet) => write(packet, (fds) => [...fds.keys()]),
    multicast: (packet, filter) => write(packet, (fds) => [...fds.values()].filter(filter).map((m) => m.fd)),
    close() {
      byGate.clear();
      closed = true;
    },
  };
}
