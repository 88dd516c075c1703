/**
 * IP address text to bytes and back, for the PROXY protocol's binary header.
 *
 * Hand-written because Node exposes neither `inet_pton` nor `inet_ntop` (`net.SocketAddress`
 * and `net.BlockList` take text but never give bytes). The rules are those of `inet_pton`
 * without zone ids, and the text form is libuv's `inet_ntop`, so an address decoded here
 * reads exactly like a socket's `remoteAddress` (tests check both against `node:net`).
 */

const DOT = 0x2e;
const COLON = 0x3a;

/** Writes strict dotted-decimal IPv4 (no leading zeros: they read as octal elsewhere) at `offset`; false if `text` is not one. */
export function writeIPv4(text: string, out: Uint8Array, offset: number): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || part === 3) return false;
      out[offset + part++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    const d = c - 0x30;
    if (d < 0 || d > 9) return false;
    if (digits > 0 && value === 0) return false;
    value = value * 10 + d;
    if (value > 255) return false;
    digits++;
  }
  if (digits === 0 || part !== 3) return false;
  out[offset + 3] = value;
  return true;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x57;
  return -1;
}

/**
 * Writes IPv6 text (groups of 1–4 hex digits, at most one `::`, an optional dotted IPv4 tail;
 * no zone id) as 16 bytes at `offset`; false if `text` is not one. `out` may be partly written then.
 */
export function writeIPv6(text: string, out: Uint8Array, offset: number): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false;
  let i = 0;
  let words = 0;
  let gap = -1;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    if (words === 8) return false;
    let j = i;
    let value = 0;
    while (j < n && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    const next = j < n ? text.charCodeAt(j) : -1;
    if (next === DOT) {
      if (words > 6 || !writeIPv4(text.slice(i), out, offset + words * 2)) return false;
      words += 2;
      break;
    }
    if (j === i || j - i > 4) return false;
    out[offset + words * 2] = value >> 8;
    out[offset + words * 2 + 1] = value & 0xff;
    words++;
    if (j === n) break;
    if (next !== COLON) return false;
    j++;
    if (j === n) return false; // a single trailing colon
    if (text.charCodeAt(j) === COLON) {
      if (gap !== -1) return false;
      gap = words;
      j++;
    }
    i = j;
  }
  if (gap === -1) return words === 8;
  if (words === 8) return false; // `::` stands for at least one zero group
  // Move the words after the gap to the end and zero the middle.
  const tail = (words - gap) * 2;
  const end = offset + 16;
  out.copyWithin(end - tail, offset + gap * 2, offset + words * 2);
  out.fill(0, offset + gap * 2, end - tail);
  return true;
}

/** IPv6 text to 16 bytes, or `null` when it is not an IPv6 address. */
export function parseIPv6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  return writeIPv6(text, out, 0) ? out : null;
}

/** The four bytes at `offset` as dotted decimal. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * The 16 bytes at `offset` as libuv's `inet_ntop` writes them: lower-case hex, the longest run
 * of two or more zero groups (the first of equals) as `::`, and a dotted tail for `::ffff:a.b.c.d`
 * and `::a.b.c.d`.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  for (let w = 0; w <= 8; w++) {
    const zero = w < 8 && bytes[offset + w * 2] === 0 && bytes[offset + w * 2 + 1] === 0;
    if (zero) {
      if (curBase === -1) curBase = w;
    } else if (curBase !== -1) {
      if (w - curBase > bestLen) {
        bestBase = curBase;
        bestLen = w - curBase;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let text = '';
  for (let w = 0; w < 8; w++) {
    if (bestBase !== -1 && w >= bestBase && w < bestBase + bestLen) {
      if (w === bestBase) text += ':';
      continue;
    }
    if (w !== 0) text += ':';
    if (w === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff))) {
      return text + formatIPv4(bytes, offset + 12);
    }
    text += ((bytes[offset + w * 2]! << 8) | bytes[offset + w * 2 + 1]!).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) text += ':';
  return text;
}

const MAPPED_PREFIX = '::ffff:';
const scratch = new Uint8Array(4);

/**
 * An IPv4-mapped IPv6 address as its IPv4 address (`'::ffff:1.2.3.4'` → `'1.2.3.4'`), any other
 * address unchanged: one client counts once whether it came over IPv4 or a dual-stack socket.
 * Expects the text form Node and the PROXY parser give (lower-case, dotted tail).
 *
 * @example
 * ```ts
 * perIp.get(normalizeAddress(header.source?.address ?? socket.remoteAddress!));
 * ```
 */
export function normalizeAddress(address: string): string {
  if (address.length < 14 || address.charCodeAt(0) !== COLON || !address.startsWith(MAPPED_PREFIX)) return address;
  const v4 = address.slice(MAPPED_PREFIX.length);
  return writeIPv4(v4, scratch, 0) ? v4 : address;
}
