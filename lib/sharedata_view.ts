/**
 * The read-only, live view readers get from sharedata.query: a Proxy over the worker's one
 * decoded copy of a table. Every read goes to the copy's current version, at every depth: a
 * nested object taken from the view before an update (`const items = cfg.items`) reads the new
 * version's `items` after it, as skynet's sharedata does. A path that no longer leads to an
 * object of the same kind reads as empty. Every write throws ReadOnlyError, whatever the mode
 * of the code that tries: all services on the worker share the copy.
 *
 * Views never hand out the copy's own objects: nested objects and arrays come wrapped in views,
 * other objects (Buffer, Date, Set, Map) as fresh copies.
 */
import { ReadOnlyError } from "../runtime/errors.js";

/** What a view reads through: one worker's copy of one table, replaced in place on update. */
export interface Source {
  readonly name: string;
  data: unknown;
  version: number;
}

type Key = string | symbol;

interface Node {
  readonly source: Source;
  readonly parent: Node | undefined;
  readonly key: Key;
  readonly isArray: boolean;
  /** The version `value` was resolved at. */
  seen: number;
  value: object | undefined;
  /** Views of nested objects, kept so that `view.a === view.a`. */
  readonly children: Map<Key, object>;
}

const isPlainObject = (value: unknown): value is Record<Key, unknown> => {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

export const isContainer = (value: unknown): boolean => Array.isArray(value) || isPlainObject(value);

/** The live view of a table's root. */
export function createView(source: Source): object {
  return makeView({ source, parent: undefined, key: "", isArray: Array.isArray(source.data), seen: -1, value: undefined, children: new Map() });
}

function makeView(node: Node): object {
  return new Proxy(node.isArray ? [] : {}, handler(node));
}

/** The node's object in the current version, or undefined when its path is gone. */
function resolve(node: Node): object | undefined {
  if (node.seen !== node.source.version) {
    let value: unknown;
    if (node.parent === undefined) value = node.source.data;
    else {
      const parent = resolve(node.parent);
      value = parent !== undefined && Object.hasOwn(parent, node.key) ? (parent as Record<Key, unknown>)[node.key] : undefined;
    }
    node.value = isContainer(value) && Array.isArray(value) === node.isArray ? (value as object) : undefined;
    node.seen = node.source.version;
  }
  return node.value;
}

function wrap(node: Node, key: Key, value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (isContainer(value)) {
    let child = node.children.get(key);
    const isArray = Array.isArray(value);
    if (child === undefined || Array.isArray(child) !== isArray) {
      child = makeView({ source: node.source, parent: node, key, isArray, seen: -1, value: undefined, children: new Map() });
      node.children.set(key, child);
    }
    return child;
  }
  if (value instanceof Uint8Array) return Buffer.from(value);
  return structuredClone(value);
}

function pathOf(node: Node, key: Key): string {
  const parts: string[] = [String(key)];
  for (let n: Node | undefined = node; n?.parent !== undefined; n = n.parent) parts.unshift(String(n.key));
  return parts.join(".");
}

function refuse(node: Node, what: string, key?: Key): never {
  const where = key === undefined ? "" : ` "${pathOf(node, key)}"`;
  throw new ReadOnlyError(`sharedata "${node.source.name}" is read-only: cannot ${what}${where}`);
}

function handler(node: Node): ProxyHandler<object> {
  return {
    get(_target, key) {
      const value = resolve(node);
      if (value === undefined) return undefined;
      // Prototype members (array methods, toString, Symbol.iterator) run against the view.
      if (!Object.hasOwn(value, key)) return Reflect.get(value, key);
      return wrap(node, key, (value as Record<Key, unknown>)[key]);
    },
    has(_target, key) {
      const value = resolve(node);
      return value !== undefined && key in value;
    },
    ownKeys() {
      const value = resolve(node);
      return value !== undefined ? Reflect.ownKeys(value) : node.isArray ? ["length"] : [];
    },
    getOwnPropertyDescriptor(_target, key) {
      const value = resolve(node);
      // An array view's own `length` must stay non-configurable, as it is on the Proxy's target.
      if (node.isArray && key === "length") return { value: value ? (value as unknown[]).length : 0, writable: true, enumerable: false, configurable: false };
      if (value === undefined || !Object.hasOwn(value, key)) return undefined;
      const own = Reflect.getOwnPropertyDescriptor(value, key)!;
      return { value: wrap(node, key, own.value), writable: false, enumerable: own.enumerable, configurable: true };
    },
    set(_target, key) {
      return refuse(node, "set", key);
    },
    deleteProperty(_target, key) {
      return refuse(node, "delete", key);
    },
    defineProperty(_target, key) {
      return refuse(node, "define", key);
    },
    setPrototypeOf() {
      return refuse(node, "change the prototype");
    },
    preventExtensions() {
      return refuse(node, "freeze or seal it");
    },
  };
}
