/**
 * The connection machine as data: no Node imports, so it loads in the Stately inspector
 * and in a browser.
 * @packageDocumentation
 */
export {
  connectionMachine,
  connectionSetup,
  type ConnectionMachine,
  type ConnectionContext,
  type ConnectionOutput,
  type SidePair,
} from './connection-machine.js';
export {
  CLOSE_REASONS,
  REFUSAL_REASONS,
  closeCode,
  moreDecisive,
  reasonForError,
  type CloseReason,
  type RefusalReason,
  type ClosePhase,
  type Ending,
} from './close-reasons.js';
export { DEFAULT_SETTINGS, type ConnectionSettings, type TimeoutBehavior } from './connection-settings.js';
export { INPUT_EVENT_TYPES, type Side } from './connection-events.js';
export type * from './connection-events.js';
