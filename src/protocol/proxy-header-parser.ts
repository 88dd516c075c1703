/**
 * An incremental PROXY protocol header parser, fed the first TCP chunks of a connection.
 *
 * Hand-written rather than taken from npm: the packages there (`proxy-protocol-js`,
 * `@balena/proxy-protocol-parser`) parse one complete buffer and throw, while a receiver needs
 * to take a header split anywhere across segments, refuse hostile input at the first byte
 * that gives it away, bound what it buffers, and report refusals as stable codes.
 */
import { InvalidOptionError } from '../errors.js';
import {
  headerError,
  missingHeader,
  NEED_MORE,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_DEFAULT_MAX_LENGTH,
  PROXY_V2_FIXED_LENGTH,
  type ProxyHeader,
  type ProxyHeaderResult,
} from './proxy-header.js';
import { decodeV1, scanV1 } from './proxy-header-v1.js';
import { decodeV2, scanV2 } from './proxy-header-v2.js';

/** Options of a {@link ProxyHeaderParser}. */
export interface ProxyHeaderParserOptions {
  /**
   * The longest v2 header taken, in bytes, signature and TLVs included; a longer one is
   * `PROXY_HEADER_TOO_LONG` as soon as its 16-byte prefix arrives. Default 4096
   * ({@link PROXY_V2_DEFAULT_MAX_LENGTH}); from 52 (TCP over IPv6 without TLVs) to 65 551
   * (the 16-bit length's limit). v1 lines are bounded by the spec's 107 bytes.
   */
  maxLength?: number;
}

const P = 0x50;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const MIN_MAX_LENGTH = PROXY_V2_FIXED_LENGTH + 36;
const MAX_MAX_LENGTH = PROXY_V2_FIXED_LENGTH + 0xffff;

/**
 * Reads one PROXY protocol header (v1 or v2, told apart by the first byte) from the start of a
 * connection. Call {@link push} with each chunk until the result is not `need-more`; on `done`,
 * forward `rest` and pipe the socket as usual. Never throws on input: every byte sequence
 * gives `need-more`, `done` or `error`.
 *
 * A header that arrives in one chunk is decoded straight from it; only a split one is copied,
 * into a buffer no larger than the header (107 bytes for v1, the announced length for v2).
 *
 * @example
 * ```ts
 * const parser = new ProxyHeaderParser();
 * socket.on('data', function onData(chunk: Buffer) {
 *   const r = parser.push(chunk);
 *   if (r.state === 'need-more') return;
 *   socket.off('data', onData);
 *   if (r.state === 'error') return socket.destroy(); // r.code: PROXY_HEADER_MALFORMED …
 *   const client = r.header.source ?? { address: socket.remoteAddress!, port: socket.remotePort! };
 *   if (r.rest.length > 0) upstream.write(r.rest);
 * });
 * ```
 */
export class ProxyHeaderParser {
  private readonly maxLength: number;
  private buf: Buffer | null = null;
  private len = 0;
  private result: ProxyHeaderResult | null = null;

  constructor(options: ProxyHeaderParserOptions = {}) {
    const maxLength = options.maxLength ?? PROXY_V2_DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(maxLength) || maxLength < MIN_MAX_LENGTH || maxLength > MAX_MAX_LENGTH) {
      throw new InvalidOptionError('maxLength', `maxLength must be an integer from ${MIN_MAX_LENGTH} to ${MAX_MAX_LENGTH} bytes, got ${String(options.maxLength)}`);
    }
    this.maxLength = maxLength;
  }

  /** Bytes held from earlier chunks while a split header completes; 0 before, and after the end. */
  get buffered(): number {
    return this.len;
  }

  /** The header once parsed, else `undefined`. */
  get header(): ProxyHeader | undefined {
    return this.result?.state === 'done' ? this.result.header : undefined;
  }

  /**
   * Takes the next chunk. After `done`, further chunks come back whole as `rest`; after an
   * `error`, the same error comes back.
   */
  push(chunk: Buffer): ProxyHeaderResult {
    const result = this.result;
    if (result !== null) return result.state === 'done' ? { state: 'done', header: result.header, rest: chunk } : result;
    if (this.len === 0) {
      // Fast path: the usual header arrives whole in the first segment.
      const found = this.scan(chunk, chunk.length);
      if (found === NEED_MORE) {
        if (chunk.length > 0) this.hold(chunk, 0, chunk.length);
        return NEED_MORE;
      }
      return this.finish(found, chunk, chunk, chunk.length);
    }
    let offset = 0;
    for (;;) {
      const take = Math.min(this.wanted(), chunk.length - offset);
      this.hold(chunk, offset, take);
      offset += take;
      const found = this.scan(this.buf!, this.len);
      if (found !== NEED_MORE) return this.finish(found, this.buf!, chunk, offset);
      if (offset === chunk.length) return NEED_MORE;
    }
  }

  /**
   * The connection ended (or timed out) before a header: `PROXY_HEADER_TRUNCATED` partway
   * through one, `PROXY_HEADER_MISSING` with no byte at all. After `done` or `error`, that result.
   */
  end(): ProxyHeaderResult {
    if (this.result !== null) return this.result;
    this.result =
      this.len === 0
        ? headerError('PROXY_HEADER_MISSING', 'no PROXY protocol header: the connection ended before its first byte')
        : headerError('PROXY_HEADER_TRUNCATED', `the connection ended ${this.len} bytes into a PROXY protocol header`);
    this.release();
    return this.result;
  }

  private scan(v: Buffer, n: number): number | ProxyHeaderResult {
    if (n === 0) return NEED_MORE;
    const first = v[0];
    if (first === P) return scanV1(v, n);
    if (first === CR) return scanV2(v, n, this.maxLength);
    return missingHeader(v, n);
  }

  /** How many more bytes may be copied without passing the header's end (v1's is found by scanning). */
  private wanted(): number {
    const b = this.buf!;
    if (b[0] !== CR) return PROXY_V1_MAX_LENGTH - this.len;
    if (this.len < PROXY_V2_FIXED_LENGTH) return PROXY_V2_FIXED_LENGTH - this.len;
    return PROXY_V2_FIXED_LENGTH + ((b[14]! << 8) | b[15]!) - this.len;
  }

  /** Appends `chunk[from..from+count)`, growing to the header's size (scanning has bounded it). */
  private hold(chunk: Buffer, from: number, count: number): void {
    const need = this.len + count;
    let b = this.buf;
    if (b === null || b.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, PROXY_V1_MAX_LENGTH));
      if (b !== null) b.copy(grown, 0, 0, this.len);
      this.buf = b = grown;
    }
    chunk.copy(b, this.len, from, from + count);
    this.len = need;
  }

  /**
   * Ends on a scan that was not `need-more`: `view` holds the header, `used` is how many bytes
   * of `chunk` went into `view`, so the header's end in `chunk` is `used - (viewLength - length)`.
   */
  private finish(found: number | ProxyHeaderResult, view: Buffer, chunk: Buffer, used: number): ProxyHeaderResult {
    if (typeof found !== 'number') {
      this.result = found;
      this.release();
      return found;
    }
    const viewLength = view === chunk ? chunk.length : this.len;
    const decoded = view[0] === P ? decodeV1(view, found) : decodeV2(view, found);
    this.release();
    if ('state' in decoded) {
      this.result = decoded;
      return decoded;
    }
    const end = used - (viewLength - found);
    this.result = { state: 'done', header: decoded, rest: end === chunk.length ? EMPTY : chunk.subarray(end) };
    return this.result;
  }

  private release(): void {
    this.buf = null;
    this.len = 0;
  }
}

/**
 * Parses a header from the start of `bytes` in one go: `need-more` when `bytes` ends inside
 * one, else as {@link ProxyHeaderParser.push}.
 */
export function parseProxyHeader(bytes: Buffer, options?: ProxyHeaderParserOptions): ProxyHeaderResult {
  return new ProxyHeaderParser(options).push(bytes);
}
