/**
 * weft's public API: everything a service module or an embedding program imports, from "weft".
 */
export * as netpack from "./lib/netpack.js";
