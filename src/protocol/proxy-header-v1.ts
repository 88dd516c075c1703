/**
 * The v1 text header: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN…\r\n`,
 * at most 107 bytes. Scanning finds the line's end and refuses what cannot become a valid line
 * as soon as it shows; decoding checks every field once the CRLF is there.
 */
import { formatIPv6, writeIPv4, writeIPv6 } from './ip-address.js';
import { headerError, missingHeader, NEED_MORE, PROXY_V1_MAX_LENGTH, type ProxyAddress, type ProxyHeader, type ProxyHeaderResult } from './proxy-header.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
/** Where the family starts: after `PROXY `. */
const FAMILY_AT = 6;
const FAMILIES = [Buffer.from('TCP4 ', 'latin1'), Buffer.from('TCP6 ', 'latin1'), Buffer.from('UNKNOWN', 'latin1')];
const UNKNOWN = 2;

function malformed(message: string): ProxyHeaderResult {
  return headerError('PROXY_HEADER_MALFORMED', `PROXY v1: ${message}`);
}

/** Index into FAMILIES of the family at FAMILY_AT, -1 while still a prefix of one, -2 for none. */
function matchFamily(v: Uint8Array, n: number): number {
  let partial = false;
  for (let k = 0; k < FAMILIES.length; k++) {
    const f = FAMILIES[k]!;
    const m = Math.min(n - FAMILY_AT, f.length);
    let i = 0;
    while (i < m && v[FAMILY_AT + i] === f[i]) i++;
    if (i < m) continue;
    if (m === f.length) return k;
    partial = true;
  }
  return partial ? -1 : -2;
}

/** Bytes a TCP4/TCP6 line may hold between its family and its CR: hex digits, `.`, `:`, space. */
function addressByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x3a) || c === 0x2e || c === SP || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/**
 * Scans `v[0..n)`, which starts with `P`: the line's length (CRLF included) once complete,
 * `NEED_MORE`, or an error as soon as the bytes so far cannot begin a valid line.
 */
export function scanV1(v: Uint8Array, n: number): number | ProxyHeaderResult {
  for (let i = 1; i < 5 && i < n; i++) {
    if (v[i] !== 'PROXY'.charCodeAt(i)) return missingHeader(v, n);
  }
  if (n <= 5) return NEED_MORE;
  if (v[5] !== SP) return malformed('"PROXY" must be followed by exactly one space');
  const family = matchFamily(v, n);
  if (family === -2) return malformed('the protocol must be TCP4, TCP6 or UNKNOWN');
  if (family === -1) return NEED_MORE;
  const from = FAMILY_AT + FAMILIES[family]!.length;
  // For UNKNOWN the rest of the line is free-form and ignored, as the spec says.
  if (family === UNKNOWN && n > from && v[from] !== SP && v[from] !== CR) return malformed('the protocol must be TCP4, TCP6 or UNKNOWN');
  const limit = n < PROXY_V1_MAX_LENGTH ? n : PROXY_V1_MAX_LENGTH;
  for (let i = from; i < limit; i++) {
    const c = v[i]!;
    if (c === CR) {
      if (i + 1 >= PROXY_V1_MAX_LENGTH) break;
      if (i + 1 >= n) return NEED_MORE;
      if (v[i + 1] !== LF) return malformed('a CR must be followed by LF');
      return i + 2;
    }
    if (family !== UNKNOWN && !addressByte(c)) return malformed(`byte 0x${c.toString(16).padStart(2, '0')} at offset ${i} cannot be part of an address or port`);
  }
  if (n < PROXY_V1_MAX_LENGTH) return NEED_MORE;
  return headerError('PROXY_HEADER_TOO_LONG', `PROXY v1: no CRLF in the first ${PROXY_V1_MAX_LENGTH} bytes`);
}

/** A port without leading zeros, 0–65535, or -1. */
function parsePort(text: string): number {
  const n = text.length;
  if (n === 0 || n > 5 || (n > 1 && text.charCodeAt(0) === 0x30)) return -1;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value <= 65535 ? value : -1;
}

const scratch = new Uint8Array(16);

function address(family: 'TCP4' | 'TCP6', text: string): string | null {
  if (family === 'TCP4') return writeIPv4(text, scratch, 0) ? text : null;
  // Canonical text, so one client has one spelling whatever the sender wrote.
  return writeIPv6(text, scratch, 0) ? formatIPv6(scratch, 0) : null;
}

/** Decodes the complete line `v[0..length)` found by {@link scanV1}. */
export function decodeV1(v: Buffer, length: number): ProxyHeader | ProxyHeaderResult {
  const fields = v.toString('latin1', 0, length - 2).split(' ');
  const family = fields[1];
  if (family === 'UNKNOWN') return { version: 1, command: 'proxy', family: 'unknown', length };
  if (family !== 'TCP4' && family !== 'TCP6') return malformed('the protocol must be TCP4, TCP6 or UNKNOWN');
  if (fields.length !== 6) {
    return malformed(`a ${family} line is "PROXY ${family} <source> <destination> <source port> <destination port>" with single spaces`);
  }
  const kind = family === 'TCP4' ? 'IPv4' : 'IPv6';
  const ends: ProxyAddress[] = [];
  for (let k = 0; k < 2; k++) {
    const name = k === 0 ? 'source' : 'destination';
    const addr = address(family, fields[2 + k]!);
    if (addr === null) return malformed(`${name} address "${fields[2 + k]}" is not an ${kind} address`);
    const port = parsePort(fields[4 + k]!);
    if (port < 0) return malformed(`${name} port "${fields[4 + k]}" is not a decimal 0-65535 without leading zeros`);
    ends.push({ address: addr, port });
  }
  return { version: 1, command: 'proxy', family: family === 'TCP4' ? 'tcp4' : 'tcp6', source: ends[0], destination: ends[1], length };
}
