/**
 * The datacenter (skynet's service/datacenterd.lua): one tree of values for the whole node,
 * addressed by paths of keys. lib/datacenter is how services use it.
 *
 * `wait(path)` answers once `get(path)` has a value: at once if it has one, else when a `set`
 * gives it one, whether that set names the path itself, an ancestor (an object holding it) or
 * a descendant (which makes the path a branch).
 */
import { defineService, type Responder } from "weft";

export type Key = string | number;
type Tree = Record<string, unknown>;

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** One string per path; a descendant's id starts with its ancestor's id minus the closing bracket. */
const idOf = (path: Key[]): string => JSON.stringify(path.map(String));
const branchPrefix = (path: Key[]): string => idOf(path).slice(0, -1) + (path.length ? "," : "");

function checkPath(path: unknown[], least: number): asserts path is Key[] {
  if (path.length < least) throw new TypeError(`datacenter needs a path of at least ${least} key${least === 1 ? "" : "s"}`);
  for (const key of path) {
    if (typeof key !== "string" && typeof key !== "number") throw new TypeError(`datacenter keys are strings or numbers, not ${typeof key}`);
    // Keys often come from clients: this one would reach Object.prototype instead of a value.
    if (key === "__proto__") throw new TypeError(`"__proto__" cannot be a datacenter key`);
  }
}

/** A node's own child: inherited properties ("constructor", "toString") are not values. */
const child = (node: Tree, key: Key): unknown => (Object.hasOwn(node, String(key)) ? node[String(key)] : undefined);

export default defineService(async (svc) => {
  const root: Tree = {};
  /** Calls waiting for a path to get a value, by path id. */
  const waiting = new Map<string, { path: Key[]; answers: Responder[] }>();

  function get(path: Key[]): unknown {
    let node: unknown = root;
    for (const key of path) {
      if (!isTree(node)) return undefined;
      node = child(node, key);
    }
    return node;
  }

  function set(path: Key[], value: unknown): unknown {
    const removing = value === undefined || value === null;
    let node = root;
    for (const [i, key] of path.slice(0, -1).entries()) {
      const next = child(node, key);
      // Removing what is not there: no branch is made for it.
      if (next === undefined && removing) return undefined;
      if (next === undefined) node = node[String(key)] = {};
      else if (isTree(next)) node = next;
      else throw new TypeError(`datacenter ${JSON.stringify(path.slice(0, i + 1))} holds a value, not a branch: set it to null first`);
    }
    const last = String(path[path.length - 1]);
    const previous = child(node, last);
    if (removing) delete node[last];
    else node[last] = value;
    return previous;
  }

  /** Answers the waiters this set may have satisfied: the path, its ancestors, its descendants. */
  function wake(path: Key[]): void {
    if (waiting.size === 0) return;
    const touched: string[] = [];
    for (let n = path.length; n >= 1; n--) touched.push(idOf(path.slice(0, n)));
    const prefix = branchPrefix(path);
    for (const id of waiting.keys()) if (id.startsWith(prefix)) touched.push(id);
    for (const id of touched) {
      const entry = waiting.get(id);
      if (entry === undefined) continue;
      const value = get(entry.path);
      if (value === undefined) continue;
      waiting.delete(id);
      for (const answer of entry.answers) answer(value);
    }
  }

  svc.setInfo(() => ({ waiting: [...waiting.values()].map((w) => ({ path: w.path, callers: w.answers.length })) }));

  return {
    /** The value at path (a subtree is returned whole); undefined if none. */
    get(...path: Key[]): unknown {
      checkPath(path, 0);
      return get(path);
    },
    /** `set(...path, value)`: null or undefined removes the key. Returns the value it replaced. */
    set(...pathAndValue: unknown[]): unknown {
      const path = pathAndValue.slice(0, -1);
      checkPath(path, 1);
      const previous = set(path, pathAndValue[pathAndValue.length - 1]);
      wake(path);
      return previous;
    },
    /** Answers with the value at path once there is one. */
    wait(...path: Key[]): unknown {
      checkPath(path, 1);
      const value = get(path);
      if (value !== undefined) return value;
      const id = idOf(path);
      const entry = waiting.get(id) ?? { path, answers: [] };
      waiting.set(id, entry);
      entry.answers.push(svc.response());
      return undefined;
    },
  };
});
