import diagnosticsChannel from 'node:diagnostics_channel';
import type { CloseInfo, Connection } from './binding/connection.js';

/**
 * The message of the `proxy-lifecycle:connection:open` diagnostics channel: a connection
 * was created (by `forward()` or a supervisor), its machine started, before any byte moved.
 */
export interface ConnectionOpenMessage {
  connection: Connection;
}

/**
 * The message of the `proxy-lifecycle:connection:close` diagnostics channel: a connection
 * was disposed (both sides closed, every listener and timer removed); `info` is what
 * `connection.whenClosed()` resolves with.
 */
export interface ConnectionCloseMessage {
  connection: Connection;
  info: CloseInfo;
}

/**
 * Channels for APM tools, as undici publishes its own: a publisher checks `hasSubscribers`
 * first, so nobody listening costs one property read per connection open and close.
 * `channel()` returns the same object for a name, so the ESM and CJS builds share them.
 */
export const channels = {
  open: diagnosticsChannel.channel('proxy-lifecycle:connection:open'),
  close: diagnosticsChannel.channel('proxy-lifecycle:connection:close'),
} as const;
