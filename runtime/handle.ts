/**
 * Service handles. A handle is a 32-bit number: the top 8 bits name the worker slot that
 * hosts the service (slot 0 is the main thread), the low 24 bits count services started on
 * that slot. So any thread can tell where a handle lives without asking anyone, and the
 * counters live in shared memory so a replacement worker never hands out a dead handle again.
 */
export type Handle = number;

export const SLOT_BITS = 24;
export const MAX_SLOTS = 256;
export const LOCAL_MASK = 0xffffff;

/** The host endpoint of a slot (its system messages go there); services start at local id 1. */
export const hostHandle = (slot: number): Handle => (slot << SLOT_BITS) >>> 0;
export const slotOf = (handle: Handle): number => handle >>> SLOT_BITS;
export const isHostHandle = (handle: Handle): boolean => (handle & LOCAL_MASK) === 0;

/** `:0000000a`, as skynet prints addresses. */
export function formatHandle(handle: Handle): string {
  return ":" + (handle >>> 0).toString(16).padStart(8, "0");
}

/** Accepts `:0000000a`, `0000000a`, `a` (hex, as skynet's console does). Returns undefined otherwise. */
export function parseHandle(text: string): Handle | undefined {
  const hex = text.startsWith(":") ? text.slice(1) : text;
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) return undefined;
  return parseInt(hex, 16) >>> 0;
}
