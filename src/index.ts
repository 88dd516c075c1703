/**
 * proxy-lifecycle: an event-sourced engine for the lifecycle of proxied TCP connections.
 * What users may call; what the project's tests and tools need lives in `internal.ts`.
 * @packageDocumentation
 */
export { forward, type ForwardOptions, type EnvironmentOptions } from './forward.js';
export {
  Supervisor,
  type SupervisorOptions,
  type SupervisorEvents,
  type SupervisorStats,
  type RefuseOptions,
  type AggregateSample,
  type ConnectionSample,
} from './supervisor.js';
export { ConnectionIds, defaultInstance, bootId, checkInstance, checkBoot, isConnectionId, type ConnectionIdOptions } from './connection-ids.js';
export { Connection, type CloseInfo, type ConnectionPreamble } from './binding/connection.js';
export type { SocketLike, Upstream } from './binding/socket-like.js';
export { systemClock, ManualClock, type Clock, type TimerHandle } from './clock.js';
export { TimerWheel, type TimerWheelOptions } from './timer-wheel.js';
export { resolveOptions, type LifecycleOptions, type ResolvedLifecycleOptions } from './options.js';
export {
  ProxyLifecycleError,
  InvalidOptionError,
  EventLogParseError,
  SupervisorClosedError,
  UpstreamError,
  type ErrorCode,
} from './errors.js';
export { EventLog, type EventLogOptions } from './log/event-log.js';
export type { LogRecord, ConnectionRecord, OpenRecord, EventRecord, DisposedRecord, GapRecord, RefusedRecord } from './log/log-record.js';
export type { LogSink } from './log/sink.js';
export { JsonlSink, type JsonlSinkOptions } from './log/jsonl-sink.js';
export { LineWriter, type LineWriterOptions, type LineWriterEvents } from './log/line-writer.js';
export { JetStreamSink, JETSTREAM_DROP_REASONS, type JetStreamSinkOptions, type JetStreamSinkEvents, type JetStreamDropReason, type JetStreamGapRecord } from './log/jetstream-sink.js';
export { readJetStream, type ReadJetStreamOptions, type JetStreamRecord } from './log/jetstream-source.js';
export { cutTornTail } from './log/torn-tail.js';
export {
  EventLogParser,
  parseEventLog,
  readEventLog,
  recoverEventLog,
  recoverEventLogStream,
  type RecoveredEventLog,
  type TornTail,
} from './log/event-log-parser.js';
export { replay, describeEvent, regionName, type ReplayResult, type ReplayedConnection, type TimelineStep } from './log/replay.js';
export type { MachineRuntime, RuntimeFactory, RuntimeHost, RuntimeState, EffectType, RuntimeEvent } from './runtime/machine-runtime.js';
export { TableRuntime, createTableRuntime } from './runtime/table-runtime.js';
export { ActorRuntime, type InspectionObserver } from './runtime/actor-runtime.js';
export type { Logger } from './logger.js';
export type { ConnectionOpenMessage, ConnectionCloseMessage } from './diagnostics.js';
export * from '../machines/index.js';
export { startInspectorServer, type InspectorServer, type InspectorServerOptions } from './inspect/index.js';
export {
  machineDiagram,
  readStatechart,
  guardText,
  toMermaid,
  toDot,
  type DiagramFormat,
  type Statechart,
  type ChartState,
  type ChartTransition,
} from './diagram/index.js';
export {
  renderTimelineHtml,
  timelineData,
  LANE_STATES,
  type TimelineHtmlOptions,
  type TimelineData,
  type TimelineRow,
  type LaneState,
} from './timeline/index.js';
export * from './admission/index.js';
export * from './metrics/index.js';
// PROXY protocol (HAProxy v1/v2): the preamble read before a client's bytes or written before an upstream's.
export * from './protocol/index.js';
