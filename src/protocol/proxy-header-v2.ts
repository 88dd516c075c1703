/**
 * The v2 binary header: a 12-byte signature, version/command, family/protocol, a 16-bit length,
 * then the address block and TLVs. Scanning checks each fixed byte as it arrives and knows the
 * whole length after 16 bytes; decoding reads addresses and TLVs once all of it is there.
 */
import { formatIPv4, formatIPv6 } from './ip-address.js';
import {
  headerError,
  missingHeader,
  NEED_MORE,
  PP2_SUBTYPE_SSL,
  PP2_TYPE,
  PROXY_V2_BYTE,
  PROXY_V2_FIXED_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyFamily,
  type ProxyHeader,
  type ProxyHeaderResult,
  type ProxySslInfo,
  type ProxyTlv,
} from './proxy-header.js';

/** Address block bytes by address family (the high nibble): UNSPEC, INET, INET6, UNIX. */
const ADDRESS_LENGTH = [0, 12, 36, 216];
/** The spec's limit on `PP2_TYPE_UNIQUE_ID`. */
const MAX_UNIQUE_ID = 128;

function malformed(message: string): ProxyHeaderResult {
  return headerError('PROXY_HEADER_MALFORMED', `PROXY v2: ${message}`);
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/** The address block a PROXY command needs for family/protocol byte `fam`; 0 when it is not read. */
function addressLength(fam: number): number {
  return fam >> 4 && fam & 0x0f ? (ADDRESS_LENGTH[fam >> 4] ?? 0) : 0;
}

/**
 * Scans `v[0..n)`, which starts with CR: the whole header's length once complete, `NEED_MORE`,
 * or an error as soon as a fixed byte is wrong. A header longer than `maxLength` is refused
 * from its 16-byte prefix, so its body is never buffered.
 */
export function scanV2(v: Uint8Array, n: number, maxLength: number): number | ProxyHeaderResult {
  const sig = n < 12 ? n : 12;
  for (let i = 1; i < sig; i++) {
    if (v[i] !== PROXY_V2_SIGNATURE[i]) return missingHeader(v, n);
  }
  if (n < 13) return NEED_MORE;
  const version = v[12]! >> 4;
  const command = v[12]! & 0x0f;
  if (version !== 2) return headerError('PROXY_HEADER_UNSUPPORTED', `PROXY v2: version ${version}; only 2 is defined`);
  if (command > 1) return headerError('PROXY_HEADER_UNSUPPORTED', `PROXY v2: command ${hex(command)}; only LOCAL (0x00) and PROXY (0x01) are defined`);
  if (n < 14) return NEED_MORE;
  const fam = v[13]!;
  // LOCAL ignores the family byte, as the spec says; PROXY must name a defined one.
  if (command === 1 && (fam >> 4 > 3 || (fam & 0x0f) > 2)) return malformed(`family/protocol ${hex(fam)} is not defined`);
  if (n < PROXY_V2_FIXED_LENGTH) return NEED_MORE;
  const length = (v[14]! << 8) | v[15]!;
  const total = PROXY_V2_FIXED_LENGTH + length;
  if (total > maxLength) return headerError('PROXY_HEADER_TOO_LONG', `PROXY v2: the header is ${total} bytes, over the bound of ${maxLength}`);
  if (command === 1 && length < addressLength(fam)) {
    return malformed(`length ${length} is shorter than the ${addressLength(fam)}-byte address block of family ${hex(fam)}`);
  }
  return n < total ? NEED_MORE : total;
}

/** Calls `visit` for each TLV in `b[from..to)`; an error when one is cut short or `visit` refuses it. */
function walkTlvs(
  b: Buffer,
  from: number,
  to: number,
  what: string,
  visit: (type: number, value: Buffer) => ProxyHeaderResult | undefined,
): ProxyHeaderResult | undefined {
  let p = from;
  while (p < to) {
    if (to - p < 3) return malformed(`${to - p} bytes left after the last ${what}, too few for another`);
    const type = b[p]!;
    const length = (b[p + 1]! << 8) | b[p + 2]!;
    const at = p + 3;
    if (at + length > to) return malformed(`${what} ${hex(type)} of ${length} bytes runs past its end`);
    const refused = visit(type, b.subarray(at, at + length));
    if (refused) return refused;
    p = at + length;
  }
  return undefined;
}

function decodeSsl(value: Buffer): ProxySslInfo | ProxyHeaderResult {
  if (value.length < 5) return malformed(`the SSL TLV has ${value.length} bytes, fewer than its 5-byte client and verify fields`);
  const ssl: ProxySslInfo = { client: value[0]!, verified: value.readUInt32BE(1) === 0 };
  const refused = walkTlvs(value, 5, value.length, 'SSL sub-TLV', (type, v) => {
    if (type === PP2_SUBTYPE_SSL.VERSION) ssl.version ??= v.toString('latin1');
    else if (type === PP2_SUBTYPE_SSL.CN) ssl.commonName ??= v.toString('utf8');
    else if (type === PP2_SUBTYPE_SSL.CIPHER) ssl.cipher ??= v.toString('latin1');
    else if (type === PP2_SUBTYPE_SSL.SIG_ALG) ssl.signatureAlgorithm ??= v.toString('latin1');
    else if (type === PP2_SUBTYPE_SSL.KEY_ALG) ssl.keyAlgorithm ??= v.toString('latin1');
    return undefined;
  });
  return refused ?? ssl;
}

/** Reads the TLVs in `v[from..to)` into `header`; an error result when they break the framing. */
function decodeTlvs(v: Uint8Array, from: number, to: number, header: ProxyHeader): ProxyHeaderResult | undefined {
  // One copy of the TLV block: a long-lived connection keeps its header, not the socket chunk.
  const block = Buffer.allocUnsafeSlow(to - from);
  block.set(v.subarray(from, to));
  const tlvs: ProxyTlv[] = [];
  const refused = walkTlvs(block, 0, block.length, 'TLV', (type, value) => {
    tlvs.push({ type, value });
    if (type === PP2_TYPE.ALPN) header.alpn ??= value.toString('latin1');
    else if (type === PP2_TYPE.AUTHORITY) header.authority ??= value.toString('utf8');
    else if (type === PP2_TYPE.UNIQUE_ID) {
      if (value.length > MAX_UNIQUE_ID) return malformed(`the UNIQUE_ID TLV has ${value.length} bytes, over the spec's ${MAX_UNIQUE_ID}`);
      header.uniqueId ??= value;
    } else if (type === PP2_TYPE.SSL && header.ssl === undefined) {
      const ssl = decodeSsl(value);
      if ('state' in ssl) return ssl;
      header.ssl = ssl;
    }
    return undefined;
  });
  if (refused) return refused;
  header.tlvs = tlvs;
  return undefined;
}

function familyOf(fam: number): ProxyFamily {
  if (fam === PROXY_V2_BYTE.TCP4) return 'tcp4';
  if (fam === PROXY_V2_BYTE.TCP6) return 'tcp6';
  if (fam === PROXY_V2_BYTE.UNIX_STREAM) return 'unix';
  return 'unknown';
}

/**
 * Decodes the complete header `v[0..total)` found by {@link scanV2}. UDP and UNIX datagram
 * families, and UNIX stream paths, give no addresses: the receiver keeps its own endpoints,
 * the fallback the spec asks of receivers that do not implement a family.
 */
export function decodeV2(v: Uint8Array, total: number): ProxyHeader | ProxyHeaderResult {
  if ((v[12]! & 0x0f) === 0) return { version: 2, command: 'local', family: 'unknown', length: total };
  const fam = v[13]!;
  const block = addressLength(fam);
  const header: ProxyHeader = { version: 2, command: 'proxy', family: familyOf(fam), length: total };
  // UNSPEC address or protocol: the block is not ours to read, TLVs included.
  if (block === 0) return header;
  if (header.family === 'tcp4') {
    header.source = { address: formatIPv4(v, 16), port: (v[24]! << 8) | v[25]! };
    header.destination = { address: formatIPv4(v, 20), port: (v[26]! << 8) | v[27]! };
  } else if (header.family === 'tcp6') {
    header.source = { address: formatIPv6(v, 16), port: (v[48]! << 8) | v[49]! };
    header.destination = { address: formatIPv6(v, 32), port: (v[50]! << 8) | v[51]! };
  }
  const from = PROXY_V2_FIXED_LENGTH + block;
  return from < total ? (decodeTlvs(v, from, total, header) ?? header) : header;
}
