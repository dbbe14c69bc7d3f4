/**
 * weft's public API: everything a service module or an embedding program imports, from "weft".
 */
export { defineService } from "./runtime/define.js";
export type { Address, ArgsOf, CommandTable, CommandsOf, Proxy, ServiceModule } from "./runtime/define.js";
export type { LaunchOptions, Placement, ProtocolSpec, Responder, RestartPolicy, Service, ServiceStat, TimedCaller } from "./runtime/context.js";
export type { Answer, Request, RequestSet } from "./runtime/request.js";
export { Runtime } from "./runtime/runtime.js";
export type { LostService, ServiceRecord, StopReport } from "./runtime/runtime.js";
export { loadConfigFile, parseOverrides } from "./runtime/config.js";
export type { RuntimeConfig } from "./runtime/config.js";
export { defaults } from "./runtime/defaults.js";
export { formatHandle, parseHandle } from "./runtime/handle.js";
export type { Handle } from "./runtime/handle.js";
export { PROTO } from "./runtime/protocol.js";
export type { DebugRequest, TaskReport } from "./runtime/debug.js";
export {
  CallTimeoutError,
  ConfigError,
  EncodeError,
  NameTakenError,
  NoSuchChannelError,
  NoSuchServiceError,
  NoSuchSharedataError,
  NotRunningError,
  PacketTooLargeError,
  ReadOnlyError,
  RemoteError,
  ServiceExitedError,
  ServiceStartError,
  UnknownCommandError,
  UnknownProtocolError,
  UsageError,
  WeftError,
  WorkerLostError,
} from "./runtime/errors.js";
export type { WeftErrorCode } from "./runtime/errors.js";
export { queue } from "./lib/queue.js";
export { datacenter } from "./lib/datacenter.js";
export type { Datacenter, DatacenterKey } from "./lib/datacenter.js";
export { group } from "./lib/group.js";
export type { Group, Member } from "./lib/group.js";
export type { CriticalSection } from "./lib/queue.js";
export * as netpack from "./lib/netpack.js";
export * as multicast from "./lib/multicast.js";
export type { Channel, ChannelInfo } from "./lib/multicast.js";
export * as sharedata from "./lib/sharedata.js";
export type { ReadOnly, SharedataStat } from "./lib/sharedata.js";
export { gateserver } from "./lib/gateserver.js";
export type { ConnectionInfo, Gate, GateConf, GateHandler } from "./lib/gateserver.js";
export type { CutReason, GateStats, PauseReason } from "./lib/gateconnections.js";
export { WS_CLOSE, wsgateserver } from "./lib/wsgateserver.js";
export type { WsGateConf } from "./lib/wsgateserver.js";
export { gateService } from "./lib/gateservice.js";
export { clientWriter } from "./lib/gatekit.js";
export type { GateTemplate } from "./lib/gateservice.js";
