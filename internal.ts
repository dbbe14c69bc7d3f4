/**
 * What built-in services and tests need beyond the public API. Not for users: it may change.
 */
export { hostHandle, isHostHandle, parseHandle, slotOf, SLOT_BITS } from "./runtime/handle.js";
export { resolveConfig } from "./runtime/config.js";
export { refusedServiceName } from "./runtime/servicename.js";
export { StallDetector } from "./runtime/monitor.js";
export type { SystemRequest } from "./runtime/protocol.js";
export { createRing, RingReader, RingWriter } from "./runtime/ring.js";
export { backlogCheck, backlogState } from "./lib/backlog.js";
export { isGone } from "./runtime/errors.js";
export { applySnapshot, applyUpdate, channelOf, table as multicastTable } from "./lib/multicast_table.js";
export type { ChannelUpdate, Snapshot as MulticastSnapshot } from "./lib/multicast_table.js";
export { drop as sharedataDrop, install as sharedataInstall, table as sharedataTable } from "./lib/sharedata_table.js";
export type { Encoded as SharedataEncoded } from "./lib/sharedata_table.js";
export { detach as multicastDetach, localSubscribers as multicastLocalSubscribers, subscribedChannels as multicastSubscriptions } from "./lib/multicast_table.js";
export { IntensityWindow, isNormalEnd, restartPolicy, shouldRestart } from "./lib/supervision.js";
export { LoadWatchers } from "./runtime/loadwatch.js";
// gates (issue 11): the gates' policies as pure functions, for their tests.
export { holdsReading } from "./lib/backlog.js";
export { admit as rateLogAdmit, due as rateLogDue, nextDue as rateLogNextDue, rateLimitedLog, rateLogState, summaryLine as rateLogSummary } from "./lib/ratelog.js";
export { msUntil, rateLimitOf, refill, takeToken, tokenBucket } from "./lib/ratelimit.js";
export type { CutReason, GateStats, PauseReason } from "./lib/gateconnections.js";
export type { InboundGuard, WatchMailbox } from "./lib/inbound.js";
// connection set-up (issue 16): placement by the load counts every thread shares.
export { loadOf, release as releaseLoad, reserve } from "./runtime/placement.js";
