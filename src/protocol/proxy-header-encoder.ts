/**
 * Writes the PROXY protocol header a proxy sends its upstream before the first forwarded byte.
 */
import { InvalidOptionError } from '../errors.js';
import { formatIPv4, formatIPv6, writeIPv4, writeIPv6 } from './ip-address.js';
import {
  PROXY_V2_FIXED_LENGTH,
  PROXY_V2_BYTE,
  PROXY_V2_SIGNATURE,
  type ProxyAddress,
  type ProxyFamily,
  type ProxyProtocolVersion,
  type ProxyTlv,
} from './proxy-header.js';

/** What a header says; a received `ProxyHeader` is one, so a chain of proxies passes it on. */
export interface ProxyHeaderFields {
  /** The client. With `destination`, or neither. */
  source?: ProxyAddress;
  /** The address the client connected to. */
  destination?: ProxyAddress;
  /**
   * `'tcp4'` or `'tcp6'` to insist on one (IPv4 addresses go as IPv4-mapped IPv6 under
   * `tcp6`); `'unknown'` or `'unix'` send no addresses. Default: from the addresses.
   */
  family?: ProxyFamily;
  /**
   * v2 TLVs, sent in order after the addresses, so a received header's are passed on. Not sent
   * by v1, which has none, nor with LOCAL, which has no address block to follow.
   */
  tlvs?: readonly ProxyTlv[];
}

const LOCAL_V1 = 'PROXY UNKNOWN\r\n';

/** An address as 16 bytes: IPv4 as `::ffff:a.b.c.d`. `v4` when it is IPv4 or IPv4-mapped. */
interface Endpoint {
  bytes: Uint8Array;
  v4: boolean;
  port: number;
}

function endpoint(name: 'source' | 'destination', end: ProxyAddress | undefined): Endpoint {
  if (end === null || typeof end !== 'object') throw new InvalidOptionError(name, `${name} must be { address, port }, got ${String(end)}`);
  const { address, port } = end;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(`${name}.port`, `${name}.port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const bytes = new Uint8Array(16);
  if (typeof address === 'string' && writeIPv4(address, bytes, 12)) {
    bytes[10] = bytes[11] = 0xff;
    return { bytes, v4: true, port };
  }
  if (typeof address !== 'string' || !writeIPv6(address, bytes, 0)) {
    throw new InvalidOptionError(`${name}.address`, `${name}.address must be an IPv4 or IPv6 address without a zone, got ${JSON.stringify(address)}`);
  }
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[i] === 0;
  return { bytes, v4: mapped, port };
}

function tlvLength(tlvs: readonly ProxyTlv[]): number {
  let total = 0;
  for (let i = 0; i < tlvs.length; i++) {
    const t = tlvs[i]!;
    if (!Number.isInteger(t?.type) || t.type < 0 || t.type > 255 || !(t.value instanceof Uint8Array) || t.value.length > 0xffff) {
      throw new InvalidOptionError(`tlvs[${i}]`, `tlvs[${i}] must be { type: 0-255, value: Buffer of at most 65535 bytes }`);
    }
    total += 3 + t.value.length;
  }
  return total;
}

/**
 * The PROXY protocol header for one connection, as HAProxy's `send-proxy` (v1) and
 * `send-proxy-v2` (v2) write it.
 *
 * - With `source` and `destination`: v1 `PROXY TCP4|TCP6 …\r\n`, v2 the PROXY command over
 *   TCP. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what a dual-stack listener reports)
 *   count as IPv4, so two of them go as TCP4, the family HAProxy sends when both ends are IPv4;
 *   one IPv4 and one IPv6 end go as TCP6 with the IPv4 one mapped, as HAProxy does.
 * - Without addresses (or `family` `'unknown'`/`'unix'`): v1 `PROXY UNKNOWN\r\n`, v2 the LOCAL
 *   command with no address block: the receiver then keeps the real endpoints.
 *
 * Throws `InvalidOptionError` naming the field for a bad address, port, family or TLV.
 *
 * @example
 * ```ts
 * upstream.write(encodeProxyHeader('v2', {
 *   source: { address: client.remoteAddress!, port: client.remotePort! },
 *   destination: { address: client.localAddress!, port: client.localPort! },
 * }));
 * ```
 */
export function encodeProxyHeader(version: ProxyProtocolVersion, fields: ProxyHeaderFields = {}): Buffer {
  if (version !== 'v1' && version !== 'v2') throw new InvalidOptionError('version', `version must be 'v1' or 'v2', got ${String(version)}`);
  const { family, tlvs = [] } = fields;
  if (family !== undefined && family !== 'tcp4' && family !== 'tcp6' && family !== 'unknown' && family !== 'unix') {
    throw new InvalidOptionError('family', `family must be 'tcp4', 'tcp6', 'unknown' or 'unix', got ${String(family)}`);
  }
  const withAddresses = family !== 'unknown' && family !== 'unix' && (fields.source !== undefined || fields.destination !== undefined);
  if (!withAddresses) return version === 'v1' ? Buffer.from(LOCAL_V1, 'latin1') : localV2();
  const src = endpoint('source', fields.source);
  const dst = endpoint('destination', fields.destination);
  const tcp4 = family === 'tcp6' ? false : src.v4 && dst.v4;
  if (family === 'tcp4' && !tcp4) throw new InvalidOptionError('family', "family 'tcp4' needs IPv4 (or IPv4-mapped) source and destination addresses");
  if (version === 'v1') {
    const text = tcp4
      ? `PROXY TCP4 ${formatIPv4(src.bytes, 12)} ${formatIPv4(dst.bytes, 12)} ${src.port} ${dst.port}\r\n`
      : `PROXY TCP6 ${formatIPv6(src.bytes)} ${formatIPv6(dst.bytes)} ${src.port} ${dst.port}\r\n`;
    return Buffer.from(text, 'latin1');
  }
  const block = tcp4 ? 12 : 36;
  const length = block + tlvLength(tlvs);
  if (length > 0xffff) throw new InvalidOptionError('tlvs', `tlvs make the v2 header ${PROXY_V2_FIXED_LENGTH + length} bytes, over its 65 551-byte limit`);
  const out = Buffer.allocUnsafe(PROXY_V2_FIXED_LENGTH + length);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = PROXY_V2_BYTE.PROXY;
  out[13] = tcp4 ? PROXY_V2_BYTE.TCP4 : PROXY_V2_BYTE.TCP6;
  out.writeUInt16BE(length, 14);
  let at = PROXY_V2_FIXED_LENGTH;
  // Byte loops: `set()` of a `subarray()` costs more than the 4 or 16 bytes it moves.
  const from = tcp4 ? 12 : 0;
  const size = 16 - from;
  for (let i = 0; i < size; i++) {
    out[at + i] = src.bytes[from + i]!;
    out[at + size + i] = dst.bytes[from + i]!;
  }
  at += 2 * size;
  out.writeUInt16BE(src.port, at);
  out.writeUInt16BE(dst.port, at + 2);
  at += 4;
  for (const t of tlvs) {
    out[at] = t.type;
    out.writeUInt16BE(t.value.length, at + 1);
    out.set(t.value, at + 3);
    at += 3 + t.value.length;
  }
  return out;
}

function localV2(): Buffer {
  const out = Buffer.alloc(PROXY_V2_FIXED_LENGTH);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = PROXY_V2_BYTE.LOCAL;
  return out;
}
