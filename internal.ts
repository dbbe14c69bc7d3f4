/**
 * What built-in services and tests need beyond the public API. Not for users: it may change.
 */
export {};
