/**
 * Reads the PROXY protocol header off an accepted socket, before anything else reads it: the
 * supervisor's `acceptProxy` door (`Supervisor.accept`). One job: listen, parse, time out,
 * hand the socket back clean.
 */
import type { SocketLike } from '../binding/socket-like.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { ProxyHeader, ProxyHeaderErrorCode } from './proxy-header.js';
import { ProxyHeaderParser } from './proxy-header-parser.js';

/** How a {@link ProxyHeaderReader} ended. */
export type ProxyHeaderOutcome =
  /** The header; the bytes after it are back in the socket (unshifted), which is paused. */
  | { readonly state: 'done'; readonly header: ProxyHeader }
  /** A bad header, or the client closed or failed before a whole one (`PROXY_HEADER_TRUNCATED` / `_MISSING`). */
  | { readonly state: 'invalid'; readonly code: ProxyHeaderErrorCode }
  /** No whole header within the timeout; `code` says how far it got (`_MISSING` or `_TRUNCATED`). */
  | { readonly state: 'timeout'; readonly code: ProxyHeaderErrorCode }
  /** {@link ProxyHeaderReader.stop} was called (the supervisor is shutting down). */
  | { readonly state: 'stopped' };

/** What a {@link ProxyHeaderReader} needs. */
export interface ProxyHeaderReaderOptions {
  /** Give up after this many ms on `clock`. */
  timeout: number;
  clock: Clock;
}

/** Where the shared handlers find their reader: no closure per accepted socket (as in `ws`). */
const kReader = Symbol('proxy-lifecycle.headerReader');
type ReadSocket = SocketLike & { [kReader]?: ProxyHeaderReader };

function socketOnData(this: ReadSocket, chunk: Buffer): void {
  this[kReader]?.data(chunk);
}

function socketOnGone(this: ReadSocket): void {
  this[kReader]?.gone();
}

// 'end' (FIN), 'error' and 'close' all mean no more header bytes will come.
const GONE_EVENTS = ['end', 'error', 'close'] as const;

/**
 * Reads one PROXY header (v1 or v2, auto-detected) from `socket` and calls `onOutcome` exactly
 * once, never synchronously from the constructor. Whatever the outcome, every listener and the
 * timer it added are gone by the time `onOutcome` runs. On `done` the socket is paused with the
 * bytes that followed the header unshifted back into it, so the next reader gets them first,
 * exactly once: resume it once that reader is attached. On any other outcome the socket is left
 * as it is (the caller destroys it).
 */
export class ProxyHeaderReader {
  readonly socket: SocketLike;
  private readonly parser = new ProxyHeaderParser();
  private readonly clock: Clock;
  private timer: TimerHandle | null;
  private onOutcome: ((outcome: ProxyHeaderOutcome, reader: ProxyHeaderReader) => void) | null;

  constructor(socket: SocketLike, options: ProxyHeaderReaderOptions, onOutcome: (outcome: ProxyHeaderOutcome, reader: ProxyHeaderReader) => void) {
    this.socket = socket;
    this.clock = options.clock;
    this.onOutcome = onOutcome;
    const s = socket as ReadSocket;
    s[kReader] = this;
    // The error handler with the others, before the first read: a reset mid-header is an outcome, not a crash.
    for (const event of GONE_EVENTS) s.on(event, socketOnGone);
    s.on('data', socketOnData);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.finish({ state: 'timeout', code: this.endCode() });
    }, options.timeout);
  }

  /** Ends the read now with `stopped` (no-op once it ended). */
  stop(): void {
    this.finish({ state: 'stopped' });
  }

  /** @internal The socket's 'data'. */
  data(chunk: Buffer): void {
    const result = this.parser.push(chunk);
    if (result.state === 'need-more') return;
    if (result.state === 'error') {
      this.finish({ state: 'invalid', code: result.code });
      return;
    }
    // Paused before the unshift: in flowing mode an unshift would emit 'data' at once, to nobody.
    this.socket.pause();
    if (result.rest.length > 0) this.socket.unshift(result.rest);
    this.finish({ state: 'done', header: result.header });
  }

  /** @internal The socket's 'end', 'error' or 'close': no more header bytes will come. */
  gone(): void {
    this.finish({ state: 'invalid', code: this.endCode() });
  }

  private endCode(): ProxyHeaderErrorCode {
    const end = this.parser.end();
    return end.state === 'error' ? end.code : 'PROXY_HEADER_TRUNCATED';
  }

  private finish(outcome: ProxyHeaderOutcome): void {
    const onOutcome = this.onOutcome;
    if (onOutcome === null) return;
    this.onOutcome = null;
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const s = this.socket as ReadSocket;
    s.removeListener('data', socketOnData);
    for (const event of GONE_EVENTS) s.removeListener(event, socketOnGone);
    // Assigned, not deleted: `delete` turns the socket into a slow dictionary-mode object.
    s[kReader] = undefined;
    onOutcome(outcome, this);
  }
}

/** How many of a reader's handlers are on `socket` (tests use it to prove cleanup). */
export function headerReaderListenerCount(socket: SocketLike): number {
  let n = socket.listeners('data').filter((l) => l === socketOnData).length;
  for (const event of GONE_EVENTS) n += socket.listeners(event).filter((l) => l === socketOnGone).length;
  return n;
}
