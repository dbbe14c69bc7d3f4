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
export { loadOf, lost as placementLost, ready as placementReady, release as releaseLoad, reserve } from "./runtime/placement.js";
// The actor core's seams (issue 16), for the in-process tests below worker threads.
export { Host, type HostOptions } from "./runtime/host.js";
export { ServiceInstance } from "./runtime/service.js";
export { Scheduler, type SchedulerBudget } from "./runtime/scheduler.js";
export { Mailbox, type MailboxOwner } from "./runtime/mailbox.js";
export { CallTable, callError, type PendingCall } from "./runtime/calltable.js";
export { complete, Ending, expectsAnswer, type Completer } from "./runtime/completion.js";
export { BodyKind, encodable, readRecord, RECORD_HEADER, recordBound, recordBytes, writeRecord, type RecordSink } from "./runtime/record.js";
export { Routes, type Transport, type TransportSink } from "./runtime/transport.js";
export { Rings, type Link } from "./runtime/rings.js";
export { envelope, Packed, PROTO, type Envelope, type WireError } from "./runtime/protocol.js";
export { copyBytes, errorFromWire, errorToWire, open, packr, sealArgs, sealValue } from "./runtime/codec.js";
