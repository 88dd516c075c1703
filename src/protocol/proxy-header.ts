/**
 * The PROXY protocol header (HAProxy's v1 text and v2 binary preamble) as data: what a
 * {@link ProxyHeaderParser} reads and `encodeProxyHeader` writes.
 *
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

/** One end of the proxied connection. IPv6 addresses are in Node's `remoteAddress` form. */
export interface ProxyAddress {
  /** `'192.0.2.1'`, `'2001:db8::1'`, `'::ffff:192.0.2.1'` (see `normalizeAddress`). */
  address: string;
  /** 0–65535. */
  port: number;
}

/**
 * The connection's family as the header states it. `tcp4` and `tcp6` carry addresses; `unix`
 * (v2 UNIX stream) and `unknown` (v1 `UNKNOWN`, v2 `UNSPEC`, UDP, LOCAL) do not, and the
 * receiver keeps the socket's own endpoints, as the spec says.
 */
export type ProxyFamily = 'tcp4' | 'tcp6' | 'unix' | 'unknown';

/** Which header to send: `v1` text or `v2` binary (`--send-proxy v1|v2`). */
export type ProxyProtocolVersion = 'v1' | 'v2';

/** A v2 type-length-value extension, kept as received (its value is a copy, not a view of socket data). */
export interface ProxyTlv {
  /** 0–255; see {@link PP2_TYPE}. */
  type: number;
  /** At most 65 535 bytes. */
  value: Buffer;
}

/** The `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS. */
export interface ProxySslInfo {
  /** The `client` bit field: 0x01 TLS, 0x02 certificate on this connection, 0x04 on this session. */
  client: number;
  /** The `verify` field is 0: the client's certificate was presented and verified. */
  verified: boolean;
  /** `PP2_SUBTYPE_SSL_VERSION`, e.g. `'TLSv1.3'`. */
  version?: string;
  /** `PP2_SUBTYPE_SSL_CN`: the client certificate's common name. */
  commonName?: string;
  /** `PP2_SUBTYPE_SSL_CIPHER`, e.g. `'ECDHE-RSA-AES128-GCM-SHA256'`. */
  cipher?: string;
  /** `PP2_SUBTYPE_SSL_SIG_ALG`, e.g. `'RSA-SHA256'`. */
  signatureAlgorithm?: string;
  /** `PP2_SUBTYPE_SSL_KEY_ALG`, e.g. `'RSA2048'`. */
  keyAlgorithm?: string;
}

/**
 * A parsed PROXY protocol header.
 *
 * The one rule for a receiver: when `source` is present it is the client's address; otherwise
 * (LOCAL health checks, `UNKNOWN`, unsupported families) keep the socket's own endpoints.
 */
export interface ProxyHeader {
  version: 1 | 2;
  /** v2's command; v1 headers are always `'proxy'`. `'local'`: the proxy's own connection (a health check). */
  command: 'proxy' | 'local';
  family: ProxyFamily;
  /** The client: present exactly when `family` is `tcp4` or `tcp6`. */
  source?: ProxyAddress;
  /** The address the client connected to. */
  destination?: ProxyAddress;
  /** Bytes the header took on the wire, signature and CRLF included; none of them are forwarded. */
  length: number;
  /** v2 TLVs in wire order, when there are any. CRC32C (0x03) is kept but not verified. */
  tlvs?: readonly ProxyTlv[];
  /** `PP2_TYPE_ALPN`, as latin1 text (`'h2'`, `'http/1.1'`). The first one when repeated, as for all below. */
  alpn?: string;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8. */
  authority?: string;
  /** `PP2_TYPE_UNIQUE_ID`: the sender's opaque connection id, at most 128 bytes. */
  uniqueId?: Buffer;
  /** `PP2_TYPE_SSL` and its sub-TLVs. */
  ssl?: ProxySslInfo;
}

/**
 * Why a header was refused: stable codes for close reasons, logs and metric labels.
 *
 * | code                        | when                                                                |
 * |-----------------------------|---------------------------------------------------------------------|
 * | `PROXY_HEADER_MISSING`      | the first bytes are neither `PROXY` nor the v2 signature (known at the first byte that cannot start either), or the connection ended before any byte |
 * | `PROXY_HEADER_MALFORMED`    | a v1 line or v2 block that breaks the spec: bad field, spacing, CR without LF, address block too short, TLV past the end |
 * | `PROXY_HEADER_TOO_LONG`     | a v1 line without CRLF in its first 107 bytes, or a v2 header longer than `maxLength` (known from its 16-byte prefix, before the rest is read) |
 * | `PROXY_HEADER_UNSUPPORTED`  | a v2 signature with a version other than 2, or a command other than LOCAL and PROXY |
 * | `PROXY_HEADER_TRUNCATED`    | the connection ended (`end()`) partway through a header           |
 */
export type ProxyHeaderErrorCode =
  | 'PROXY_HEADER_MISSING'
  | 'PROXY_HEADER_MALFORMED'
  | 'PROXY_HEADER_TOO_LONG'
  | 'PROXY_HEADER_UNSUPPORTED'
  | 'PROXY_HEADER_TRUNCATED';

/** Every {@link ProxyHeaderErrorCode}, e.g. to pre-create metric series. */
export const PROXY_HEADER_ERROR_CODES: readonly ProxyHeaderErrorCode[] = Object.freeze([
  'PROXY_HEADER_MISSING',
  'PROXY_HEADER_MALFORMED',
  'PROXY_HEADER_TOO_LONG',
  'PROXY_HEADER_UNSUPPORTED',
  'PROXY_HEADER_TRUNCATED',
]);

/** What one `push()` of bytes gave: keep feeding, a header (and the bytes after it), or a refusal. */
export type ProxyHeaderResult =
  | { readonly state: 'need-more' }
  | {
      readonly state: 'done';
      readonly header: ProxyHeader;
      /** Bytes after the header in this chunk, to forward; often empty. A view of the chunk, not a copy. */
      readonly rest: Buffer;
    }
  | { readonly state: 'error'; readonly code: ProxyHeaderErrorCode; readonly message: string };

/** The longest v1 line a receiver must take, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses). */
export const PROXY_V1_MAX_LENGTH = 107;

/** The v2 signature: 12 bytes no other protocol starts with. Internal: a Buffer can be written to. */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Signature, version/command, family/protocol and the 16-bit length. */
export const PROXY_V2_FIXED_LENGTH = 16;

/**
 * Default bound on a whole v2 header, in bytes. The spec's largest address block is 216 (two
 * UNIX paths); 4 KiB leaves room for TLVs (SSL details, AWS/GCP/Azure ids) while a peer that
 * announces more is refused after 16 bytes.
 */
export const PROXY_V2_DEFAULT_MAX_LENGTH = 4096;

/** v2 wire bytes: version 2 with its command (byte 12), and the TCP families (byte 13). */
export const PROXY_V2_BYTE = Object.freeze({
  LOCAL: 0x20,
  PROXY: 0x21,
  TCP4: 0x11,
  TCP6: 0x21,
  UNIX_STREAM: 0x31,
} as const);

/** Registered v2 TLV types. */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const);

/** Sub-types inside a `PP2_TYPE.SSL` value. */
export const PP2_SUBTYPE_SSL = Object.freeze({
  VERSION: 0x21,
  CN: 0x22,
  CIPHER: 0x23,
  SIG_ALG: 0x24,
  KEY_ALG: 0x25,
} as const);

/** The one `need-more` result: nothing is allocated while bytes trickle in. */
export const NEED_MORE: ProxyHeaderResult = Object.freeze({ state: 'need-more' });

/** An `error` result. */
export function headerError(code: ProxyHeaderErrorCode, message: string): ProxyHeaderResult {
  return { state: 'error', code, message };
}

/** A `PROXY_HEADER_MISSING` result naming the first bytes of `v[0..n)`, for an operator. */
export function missingHeader(v: Uint8Array, n: number): ProxyHeaderResult {
  const shown = Math.min(n, 8);
  let hex = '';
  let text = '';
  for (let i = 0; i < shown; i++) {
    const c = v[i]!;
    hex += (i ? ' ' : '') + c.toString(16).padStart(2, '0');
    text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return headerError('PROXY_HEADER_MISSING', `no PROXY protocol header: the connection starts with ${hex} ("${text}")`);
}
