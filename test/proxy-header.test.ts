import net from 'node:net';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encodeProxyHeader,
  InvalidOptionError,
  normalizeAddress,
  parseProxyHeader,
  PP2_TYPE,
  ProxyHeaderParser,
  type ProxyHeader,
  type ProxyHeaderResult,
  type ProxyTlv,
} from '../src/index.js';
import { formatIPv6, parseIPv6, writeIPv4 } from '../src/protocol/ip-address.js';
import { PROXY_V2_SIGNATURE } from '../src/protocol/proxy-header.js';

const SEED = Number(process.env.PL_PROXY_SEED ?? 20261201);
const RUNS = Number(process.env.PL_PROXY_RUNS ?? (process.env.PL_LONG === '1' ? 20_000 : 1_000));
const STATES = new Set(['need-more', 'done', 'error']);

const ascii = (s: string) => Buffer.from(s, 'latin1');

/** A v2 header from its parts, written by hand (not by the encoder under test). */
function v2(verCmd: number, fam: number, body: number[] | Buffer, length = body.length): Buffer {
  const head = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(head);
  head[12] = verCmd;
  head[13] = fam;
  head.writeUInt16BE(length, 14);
  return Buffer.concat([head, Buffer.from(body)]);
}

function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? ascii(value) : value;
  const t = Buffer.alloc(3);
  t[0] = type;
  t.writeUInt16BE(v.length, 1);
  return Buffer.concat([t, v]);
}

/** 127.0.0.2:5555 → 10.0.0.1:443 as a v2 TCP4 address block. */
const TCP4_BLOCK = [127, 0, 0, 2, 10, 0, 0, 1, 0x15, 0xb3, 0x01, 0xbb];

function done(r: ProxyHeaderResult): { header: ProxyHeader; rest: Buffer } {
  if (r.state !== 'done') assert.unreachable(`expected done, got ${JSON.stringify(r)}`);
  return r as { header: ProxyHeader; rest: Buffer };
}

function refused(r: ProxyHeaderResult, code: string, mentions?: RegExp): void {
  assert.is(r.state, 'error', JSON.stringify(r));
  if (r.state !== 'error') return;
  assert.is(r.code, code, r.message);
  if (mentions) assert.match(r.message, mentions);
}

/** Feeds `bytes` in the given pieces; the first result that is not need-more, plus everything after it as rest. */
function feed(bytes: Buffer, cuts: number[], parser = new ProxyHeaderParser()): { result: ProxyHeaderResult; rest: Buffer } {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const c of [...points, bytes.length]) {
    pieces.push(bytes.subarray(at, c));
    at = c;
  }
  let result: ProxyHeaderResult = { state: 'need-more' };
  const rest: Buffer[] = [];
  for (const piece of pieces) {
    const r = parser.push(piece);
    assert.ok(STATES.has(r.state));
    if (result.state === 'need-more') {
      result = r;
      if (r.state === 'done') rest.push(r.rest);
    } else if (result.state === 'done') {
      assert.is(r.state, 'done');
      if (r.state === 'done') rest.push(r.rest);
    } else {
      assert.equal(r, result, 'an error stays the same error');
    }
  }
  return { result, rest: Buffer.concat(rest) };
}

/** What must not depend on segmentation: the state, the code, the header and the bytes after it. */
function outcome(f: { result: ProxyHeaderResult; rest: Buffer }): unknown {
  const r = f.result;
  if (r.state === 'done') return { state: 'done', header: r.header, rest: f.rest.toString('hex') };
  if (r.state === 'error') return { state: 'error', code: r.code };
  return r;
}

// ---------------------------------------------------------------- v1 vectors from the spec

test('v1 TCP4, the spec example before an HTTP request: addresses, ports, length, and the request as rest', () => {
  const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
  const request = 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n';
  const { header, rest } = done(parseProxyHeader(ascii(line + request)));
  assert.equal(header, {
    version: 1,
    command: 'proxy',
    family: 'tcp4',
    source: { address: '192.168.0.1', port: 56324 },
    destination: { address: '192.168.0.11', port: 443 },
    length: line.length,
  });
  assert.is(rest.toString('latin1'), request);
});

test('v1 TCP6 at the 104-byte maximum, any hex case, reported in canonical form', () => {
  const full = 'FFFF:ffff:FfFf:ffff:ffff:ffff:ffff:ffff';
  const line = `PROXY TCP6 ${full} 2001:0DB8:0000:0000:0000:0000:0000:0001 65535 65535\r\n`;
  assert.is(line.length, 104);
  const { header, rest } = done(parseProxyHeader(ascii(line)));
  assert.equal(header.source, { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 });
  assert.equal(header.destination, { address: '2001:db8::1', port: 65535 });
  assert.is(header.family, 'tcp6');
  assert.is(rest.length, 0);
});

test('v1 TCP6 with an IPv4-mapped source: reported as ::ffff:a.b.c.d, and normalizeAddress unmaps it', () => {
  const { header } = done(parseProxyHeader(ascii('PROXY TCP6 ::FFFF:127.0.0.2 ::1 1000 0\r\n')));
  assert.is(header.source!.address, '::ffff:127.0.0.2');
  assert.is(normalizeAddress(header.source!.address), '127.0.0.2');
  assert.is(normalizeAddress(header.destination!.address), '::1');
  assert.is(header.destination!.port, 0);
});

test('v1 UNKNOWN: short form, and the 107-byte worst case whose rest of line is ignored', () => {
  const short = done(parseProxyHeader(ascii('PROXY UNKNOWN\r\nx')));
  assert.equal(short.header, { version: 1, command: 'proxy', family: 'unknown', length: 15 });
  assert.is(short.rest.toString(), 'x');
  const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const worst = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
  assert.is(worst.length, 107);
  const { header } = done(parseProxyHeader(ascii(worst)));
  assert.is(header.length, 107);
  assert.is(header.source, undefined);
  // Anything at all before the CRLF, as the spec says.
  assert.is(done(parseProxyHeader(ascii('PROXY UNKNOWN garbage\x00\xff\n!\r\n'))).header.family, 'unknown');
});

test('v1 fields are checked strictly: each bad one is MALFORMED, naming what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n', /single spaces/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n', /single spaces/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n', /single spaces/],
    ['PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP4 192.168.000.1 192.168.0.11 56324 443\r\n', /source address "192\.168\.000\.1"/],
    ['PROXY TCP4 192.168.0.1 192.168.0.256 56324 443\r\n', /destination address/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n', /source port "056324"/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 5632 00\r\n', /destination port "00"/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n', /source port "65536"/],
    ['PROXY TCP4 ::1 ::1 1 2\r\n', /not an IPv4 address/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /source address "1\.2\.3\.4" is not an IPv6/],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', /not an IPv6/],
    ['PROXY TCP6 ::1::2 ::1 1 2\r\n', /not an IPv6/],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /byte 0x25/],
    ['PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY UNKNOWNX\r\n', /TCP4, TCP6 or UNKNOWN/],
    ['PROXY\r\n', /exactly one space/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n', /byte 0x0a/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n', /CR must be followed by LF/],
    ['PROXY UNKNOWN\rX', /CR must be followed by LF/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n', /byte 0x2b/],
  ];
  for (const [line, why] of cases) refused(parseProxyHeader(ascii(line)), 'PROXY_HEADER_MALFORMED', why);
});

test('v1 without a CRLF in its first 107 bytes is TOO_LONG at byte 107, and not before', () => {
  const long = ascii(`PROXY UNKNOWN ${'a'.repeat(200)}`);
  const parser = new ProxyHeaderParser();
  for (let i = 0; i < 106; i++) assert.is(parser.push(long.subarray(i, i + 1)).state, 'need-more', `byte ${i + 1}`);
  refused(parser.push(long.subarray(106, 107)), 'PROXY_HEADER_TOO_LONG', /107/);
  assert.is(parser.buffered, 0, 'nothing is held after the refusal');
  // The CRLF may end exactly at byte 107, not one later.
  const at107 = ascii(`PROXY UNKNOWN ${'a'.repeat(107 - 16)}\r\n`);
  assert.is(at107.length, 107);
  assert.is(parseProxyHeader(at107).state, 'done');
  const at108 = ascii(`PROXY UNKNOWN ${'a'.repeat(107 - 15)}\r\n`);
  refused(parseProxyHeader(at108), 'PROXY_HEADER_TOO_LONG');
  refused(parseProxyHeader(ascii(`PROXY TCP4 ${'1'.repeat(300)}`)), 'PROXY_HEADER_TOO_LONG');
});

// ---------------------------------------------------------------- v2 vectors

test('v2 TCP4 with the PROXY command: addresses and ports in network order, payload as rest', () => {
  const bytes = Buffer.concat([v2(0x21, 0x11, TCP4_BLOCK), ascii('hello')]);
  const { header, rest } = done(parseProxyHeader(bytes));
  assert.equal(header, {
    version: 2,
    command: 'proxy',
    family: 'tcp4',
    length: 28,
    source: { address: '127.0.0.2', port: 5555 },
    destination: { address: '10.0.0.1', port: 443 },
  });
  assert.is(rest.toString(), 'hello');
});

test('v2 TCP6: 16-byte addresses in Node remoteAddress form, an IPv4-mapped one included', () => {
  const src = [...parseIPv6('2001:db8::7')!];
  const dst = [...parseIPv6('::ffff:10.1.2.3')!];
  const { header } = done(parseProxyHeader(v2(0x21, 0x21, [...src, ...dst, 0xff, 0xff, 0, 80])));
  assert.equal(header.source, { address: '2001:db8::7', port: 65535 });
  assert.equal(header.destination, { address: '::ffff:10.1.2.3', port: 80 });
  assert.is(header.length, 52);
});

test('v2 LOCAL: no addresses, and its block is skipped whatever the family byte says', () => {
  const local = v2(0x20, 0x00, []);
  const bare = done(parseProxyHeader(local));
  assert.equal(bare.header, { version: 2, command: 'local', family: 'unknown', length: 16 });
  assert.is(bare.rest.length, 0);
  // LOCAL with a block it must skip (the spec: receivers must not assume zero), then payload.
  const { header, rest } = done(parseProxyHeader(Buffer.concat([v2(0x20, 0xff, TCP4_BLOCK), ascii('ok')])));
  assert.equal(header, { version: 2, command: 'local', family: 'unknown', length: 28 });
  assert.is(rest.toString(), 'ok');
});

test('v2 families the proxy does not carry (UNSPEC, UDP, UNIX) give no addresses: the receiver keeps its own', () => {
  assert.equal(done(parseProxyHeader(v2(0x21, 0x00, [1, 2, 3]))).header, { version: 2, command: 'proxy', family: 'unknown', length: 19 });
  assert.equal(done(parseProxyHeader(v2(0x21, 0x12, TCP4_BLOCK))).header, { version: 2, command: 'proxy', family: 'unknown', length: 28 });
  const unix = Buffer.alloc(216);
  unix.write('/run/client.sock');
  const { header } = done(parseProxyHeader(Buffer.concat([v2(0x21, 0x31, unix, 216 + 5), tlv(PP2_TYPE.AUTHORITY, 'ab')])));
  assert.is(header.family, 'unix');
  assert.is(header.source, undefined);
  assert.is(header.authority, 'ab', 'TLVs after a UNIX block are still read');
});

test('v2 TLVs: ALPN, AUTHORITY, UNIQUE_ID and SSL decoded, every TLV kept raw, values copied out of the chunk', () => {
  const sslValue = Buffer.concat([
    Buffer.from([0x07, 0, 0, 0, 0]),
    tlv(0x21, 'TLSv1.3'),
    tlv(0x22, 'client.example'),
    tlv(0x23, 'TLS_AES_128_GCM_SHA256'),
    tlv(0x24, 'RSA-SHA256'),
    tlv(0x25, 'RSA2048'),
  ]);
  const tlvs = Buffer.concat([
    tlv(PP2_TYPE.ALPN, 'h2'),
    tlv(PP2_TYPE.AUTHORITY, Buffer.from('bücher.example', 'utf8')),
    tlv(PP2_TYPE.UNIQUE_ID, Buffer.from([1, 2, 3, 4])),
    tlv(PP2_TYPE.NOOP, Buffer.alloc(3)),
    tlv(PP2_TYPE.SSL, sslValue),
    tlv(0xe0, 'custom'),
  ]);
  const bytes = v2(0x21, 0x11, Buffer.concat([Buffer.from(TCP4_BLOCK), tlvs]));
  const { header } = done(parseProxyHeader(bytes));
  assert.is(header.alpn, 'h2');
  assert.is(header.authority, 'bücher.example');
  assert.equal([...header.uniqueId!], [1, 2, 3, 4]);
  assert.equal(header.ssl, {
    client: 7,
    verified: true,
    version: 'TLSv1.3',
    commonName: 'client.example',
    cipher: 'TLS_AES_128_GCM_SHA256',
    signatureAlgorithm: 'RSA-SHA256',
    keyAlgorithm: 'RSA2048',
  });
  assert.equal(
    header.tlvs!.map((t) => t.type),
    [0x01, 0x02, 0x05, 0x04, 0x20, 0xe0],
  );
  assert.is(header.tlvs![5]!.value.toString(), 'custom');
  bytes.fill(0);
  assert.is(header.tlvs![5]!.value.toString(), 'custom', 'a TLV value does not alias the socket chunk');
  assert.equal([...header.uniqueId!], [1, 2, 3, 4]);
  // A verify field other than 0 means no verified certificate.
  const unverified = v2(0x21, 0x11, Buffer.concat([Buffer.from(TCP4_BLOCK), tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0, 1]))]));
  assert.equal(done(parseProxyHeader(unverified)).header.ssl, { client: 1, verified: false });
});

test('v2 fixed bytes are refused as soon as they arrive: version, command, family', () => {
  const sig = PROXY_V2_SIGNATURE;
  for (const [byte, code] of [
    [0x11, 'PROXY_HEADER_UNSUPPORTED'],
    [0x31, 'PROXY_HEADER_UNSUPPORTED'],
    [0x22, 'PROXY_HEADER_UNSUPPORTED'],
    [0x2f, 'PROXY_HEADER_UNSUPPORTED'],
  ] as const) {
    refused(parseProxyHeader(Buffer.concat([sig, Buffer.from([byte])])), code);
  }
  for (const fam of [0x41, 0x13, 0xf1, 0x03]) {
    refused(parseProxyHeader(Buffer.concat([sig, Buffer.from([0x21, fam])])), 'PROXY_HEADER_MALFORMED', /family\/protocol/);
  }
  assert.is(parseProxyHeader(Buffer.concat([sig, Buffer.from([0x20, 0xff])])).state, 'need-more', 'LOCAL ignores the family byte');
});

test('v2 framing errors are MALFORMED: short address block, TLV past the end, stray bytes, oversized UNIQUE_ID, short SSL', () => {
  const block = Buffer.from(TCP4_BLOCK);
  const cases: [Buffer, RegExp][] = [
    [v2(0x21, 0x11, block.subarray(0, 11)), /shorter than the 12-byte address block/],
    [v2(0x21, 0x21, Buffer.alloc(35)), /36-byte address block/],
    [v2(0x21, 0x11, Buffer.concat([block, tlv(1, 'h2').subarray(0, 4)])), /runs past/],
    [v2(0x21, 0x11, Buffer.concat([block, Buffer.from([1, 0])])), /too few/],
    [v2(0x21, 0x11, Buffer.concat([block, tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(129))])), /UNIQUE_ID.*129/],
    [v2(0x21, 0x11, Buffer.concat([block, tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0]))])), /SSL TLV has 4 bytes/],
    [v2(0x21, 0x11, Buffer.concat([block, tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0, 0, 0x21, 0, 9, 0x41]))])), /SSL sub-TLV/],
  ];
  for (const [bytes, why] of cases) refused(parseProxyHeader(bytes), 'PROXY_HEADER_MALFORMED', why);
  // A UNIQUE_ID of exactly 128 bytes is fine.
  const ok = v2(0x21, 0x11, Buffer.concat([block, tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(128, 7))]));
  assert.is(done(parseProxyHeader(ok)).header.uniqueId!.length, 128);
});

test('a huge v2 length is TOO_LONG from the 16-byte prefix: nothing past it is waited for or buffered', () => {
  const prefix = v2(0x21, 0x11, [], 0xffff);
  const parser = new ProxyHeaderParser();
  for (let i = 0; i < 15; i++) {
    assert.is(parser.push(prefix.subarray(i, i + 1)).state, 'need-more');
    assert.ok(parser.buffered <= 16);
  }
  refused(parser.push(prefix.subarray(15, 16)), 'PROXY_HEADER_TOO_LONG', /65551 bytes, over the bound of 4096/);
  assert.is(parser.buffered, 0);
  // The default bound is 4096 bytes in all: 4080 after the prefix waits, 4081 is refused.
  assert.is(parseProxyHeader(v2(0x21, 0x11, TCP4_BLOCK, 4080)).state, 'need-more');
  refused(parseProxyHeader(v2(0x21, 0x11, TCP4_BLOCK, 4081)), 'PROXY_HEADER_TOO_LONG');
  // maxLength moves the bound both ways.
  refused(parseProxyHeader(v2(0x21, 0x11, TCP4_BLOCK, 100), { maxLength: 64 }), 'PROXY_HEADER_TOO_LONG', /bound of 64/);
  const big = v2(0x21, 0x11, Buffer.concat([Buffer.from(TCP4_BLOCK), tlv(PP2_TYPE.NOOP, Buffer.alloc(60_000))]));
  assert.is(parseProxyHeader(big, { maxLength: 65_551 }).state, 'done');
});

test('bad maxLength is an InvalidOptionError naming the option and the range', () => {
  for (const maxLength of [0, 51, 65_552, 1.5, Number.NaN]) {
    try {
      new ProxyHeaderParser({ maxLength });
      assert.unreachable(`maxLength ${maxLength} was taken`);
    } catch (err) {
      assert.instance(err, InvalidOptionError);
      assert.is((err as InvalidOptionError).option, 'maxLength');
      assert.match((err as Error).message, /from 52 to 65551/);
    }
  }
});

// ---------------------------------------------------------------- detection, end, reuse

test('MISSING at the first byte that cannot start either header, naming the bytes seen', () => {
  refused(parseProxyHeader(ascii('GET / HTTP/1.1\r\n')), 'PROXY_HEADER_MISSING', /47 45 54 20 .*"GET \/ HT"/);
  refused(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])), 'PROXY_HEADER_MISSING', /16 03 01/);
  const parser = new ProxyHeaderParser();
  assert.is(parser.push(ascii('P')).state, 'need-more');
  assert.is(parser.push(ascii('R')).state, 'need-more');
  refused(parser.push(ascii('X')), 'PROXY_HEADER_MISSING', /"PRX"/);
  // Five bytes into the v2 signature.
  refused(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])), 'PROXY_HEADER_MISSING');
  // SSH, SMTP-style and empty input.
  refused(parseProxyHeader(ascii('SSH-2.0-x\r\n')), 'PROXY_HEADER_MISSING');
  refused(parseProxyHeader(ascii('\r\r')), 'PROXY_HEADER_MISSING');
  assert.is(parseProxyHeader(ascii('\r\n\r')).state, 'need-more', 'a prefix of the v2 signature waits');
  assert.is(parseProxyHeader(Buffer.alloc(0)).state, 'need-more');
});

test('end(): MISSING before any byte, TRUNCATED partway, the header after done; then push keeps answering', () => {
  refused(new ProxyHeaderParser().end(), 'PROXY_HEADER_MISSING', /ended before its first byte/);
  const partial = new ProxyHeaderParser();
  partial.push(ascii('PROXY TCP4 1.2.'));
  refused(partial.end(), 'PROXY_HEADER_TRUNCATED', /15 bytes/);
  refused(partial.push(ascii('3.4 1.2.3.4 1 2\r\n')), 'PROXY_HEADER_TRUNCATED');

  const parser = new ProxyHeaderParser();
  const first = done(parser.push(ascii('PROXY UNKNOWN\r\nab')));
  assert.is(parser.header, first.header);
  const again = done(parser.push(ascii('cd')));
  assert.is(again.header, first.header);
  assert.is(again.rest.toString(), 'cd', 'after done, chunks pass through as rest');
  assert.is(parser.end().state, 'done');
  const bad = new ProxyHeaderParser();
  const error = bad.push(ascii('X'));
  assert.is(bad.push(ascii('PROXY UNKNOWN\r\n')), error);
  assert.is(bad.header, undefined);
});

// ---------------------------------------------------------------- IP text and bytes against node:net

const hexWord = fc.integer({ min: 0, max: 0xffff });
/** 16 bytes with many zero runs and mapped/compatible prefixes, where formatting has its cases. */
const ipv6Bytes = fc
  .tuple(fc.array(fc.oneof(fc.constant(0), fc.constant(0xffff), hexWord), { minLength: 8, maxLength: 8 }), fc.nat(3))
  .map(([words, prefix]) => {
    if (prefix === 1) words.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
    if (prefix === 2) words.splice(0, 6, 0, 0, 0, 0, 0, 0);
    const b = new Uint8Array(16);
    words.forEach((w, i) => {
      b[i * 2] = w >> 8;
      b[i * 2 + 1] = w & 0xff;
    });
    return b;
  });

test('formatIPv6 writes what libuv writes for a socket address (net.SocketAddress as the oracle)', () => {
  fc.assert(
    fc.property(ipv6Bytes, (b) => {
      const full = Array.from({ length: 8 }, (_, i) => ((b[i * 2]! << 8) | b[i * 2 + 1]!).toString(16)).join(':');
      assert.is(formatIPv6(b), new net.SocketAddress({ address: full, family: 'ipv6' }).address);
      assert.equal(parseIPv6(formatIPv6(b)), b);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

/** Text that is nearly an address: the characters of one, in the lengths of one. */
const nearIPv6 = fc.oneof(
  fc.ipV6(),
  fc.ipV6().map((s) => s.toUpperCase()),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.g'), maxLength: 46 }),
  fc.tuple(fc.ipV6(), fc.nat(45), fc.constantFrom('', ':', '::', '.', '0', '00000', '1.2.3.4')).map(([s, at, put]) => s.slice(0, at) + put + s.slice(at)),
);
const nearIPv4 = fc.oneof(
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 16 }),
);

test('IPv6 and IPv4 text are taken exactly when node:net takes them (no zone ids)', () => {
  const scratch = new Uint8Array(4);
  fc.assert(
    fc.property(nearIPv6, nearIPv4, (six, four) => {
      assert.is(parseIPv6(six) !== null, net.isIPv6(six), `IPv6 ${JSON.stringify(six)}`);
      assert.is(writeIPv4(four, scratch, 0), net.isIPv4(four), `IPv4 ${JSON.stringify(four)}`);
    }),
    { seed: SEED, numRuns: RUNS * 4 },
  );
  assert.is(parseIPv6('fe80::1%eth0'), null);
  assert.ok(net.isIPv6('fe80::1%eth0'), 'node takes zones; a PROXY header must not');
});

test('normalizeAddress: only IPv4-mapped IPv6 changes', () => {
  assert.is(normalizeAddress('::ffff:1.2.3.4'), '1.2.3.4');
  assert.is(normalizeAddress('::ffff:255.255.255.255'), '255.255.255.255');
  for (const same of ['1.2.3.4', '::1', '::1.2.3.4', '::ffff:1.2.3', '::ffff:102:304', '2001:db8::1', '::ffff:1.2.3.4x', '']) {
    assert.is(normalizeAddress(same), same);
  }
});

// ---------------------------------------------------------------- encoder

const endpoint4 = fc.record({ address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) });
const endpoint6 = fc.record({ address: ipv6Bytes.map((b) => formatIPv6(b)), port: fc.integer({ min: 0, max: 65535 }) });
const endpoint = fc.oneof(endpoint4, endpoint6);
const tlvArb = fc.record({ type: fc.integer({ min: 0, max: 255 }).filter((t) => !Object.values<number>(PP2_TYPE).includes(t)), value: fc.uint8Array({ maxLength: 40 }) }).map(
  ({ type, value }): ProxyTlv => ({ type, value: Buffer.from(value) }),
);

function isV4(address: string): boolean {
  return net.isIPv4(normalizeAddress(address));
}

test('encode → parse round-trips random endpoints and TLVs, v1 and v2; IPv4-mapped pairs go as TCP4', () => {
  fc.assert(
    fc.property(fc.constantFrom('v1' as const, 'v2' as const), endpoint, endpoint, fc.array(tlvArb, { maxLength: 4 }), (version, source, destination, tlvs) => {
      const bytes = encodeProxyHeader(version, { source, destination, tlvs });
      const { header, rest } = done(parseProxyHeader(Buffer.concat([bytes, ascii('payload')])));
      assert.is(rest.toString(), 'payload');
      assert.is(header.length, bytes.length);
      assert.is(header.version, version === 'v1' ? 1 : 2);
      const bothV4 = isV4(source.address) && isV4(destination.address);
      assert.is(header.family, bothV4 ? 'tcp4' : 'tcp6');
      // TCP4 carries the unmapped text; TCP6 maps an IPv4 end, as HAProxy does.
      const expect = (a: string) => (bothV4 ? normalizeAddress(a) : net.isIPv4(a) ? `::ffff:${a}` : a);
      assert.equal(header.source, { address: expect(source.address), port: source.port });
      assert.equal(header.destination, { address: expect(destination.address), port: destination.port });
      if (version === 'v2' && tlvs.length > 0) assert.equal(header.tlvs, tlvs);
      else assert.is(header.tlvs, undefined);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('encoder vectors: exact v1 text, exact v2 bytes, LOCAL/UNKNOWN without addresses, a received header passed on', () => {
  const src = { address: '192.168.0.1', port: 56324 };
  const dst = { address: '192.168.0.11', port: 443 };
  assert.is(encodeProxyHeader('v1', { source: src, destination: dst }).toString(), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
  assert.is(
    encodeProxyHeader('v1', { source: { address: '::ffff:192.168.0.1', port: 1 }, destination: { address: '::FFFF:192.168.0.11', port: 2 } }).toString(),
    'PROXY TCP4 192.168.0.1 192.168.0.11 1 2\r\n',
  );
  assert.is(
    encodeProxyHeader('v1', { source: { address: '2001:DB8:0:0:0:0:0:1', port: 1 }, destination: { address: '10.0.0.1', port: 2 } }).toString(),
    'PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n',
  );
  assert.is(encodeProxyHeader('v1', { source: src, destination: dst, family: 'tcp6' }).toString(), 'PROXY TCP6 ::ffff:192.168.0.1 ::ffff:192.168.0.11 56324 443\r\n');
  assert.is(encodeProxyHeader('v1').toString(), 'PROXY UNKNOWN\r\n');
  assert.is(encodeProxyHeader('v1', { source: src, destination: dst, family: 'unknown' }).toString(), 'PROXY UNKNOWN\r\n');
  assert.equal(encodeProxyHeader('v2', { source: { address: '127.0.0.2', port: 5555 }, destination: { address: '10.0.0.1', port: 443 } }), v2(0x21, 0x11, TCP4_BLOCK));
  assert.equal(encodeProxyHeader('v2'), v2(0x20, 0x00, []));
  // A header received from one proxy, sent on by the next: the same addresses and TLVs.
  const received = done(parseProxyHeader(v2(0x21, 0x11, Buffer.concat([Buffer.from(TCP4_BLOCK), tlv(PP2_TYPE.UNIQUE_ID, 'id-1')])))).header;
  assert.equal(done(parseProxyHeader(encodeProxyHeader('v2', received))).header, received);
  assert.is(encodeProxyHeader('v1', received).toString(), 'PROXY TCP4 127.0.0.2 10.0.0.1 5555 443\r\n', 'v1 drops TLVs');
  const local = done(parseProxyHeader(v2(0x20, 0, []))).header;
  assert.equal(encodeProxyHeader('v2', local), v2(0x20, 0x00, []));
});

test('encoder refuses bad input with InvalidOptionError naming the field', () => {
  const ok = { address: '1.2.3.4', port: 1 };
  const cases: [() => unknown, string][] = [
    [() => encodeProxyHeader('v3' as 'v1'), 'version'],
    [() => encodeProxyHeader('v1', { source: ok }), 'destination'],
    [() => encodeProxyHeader('v1', { destination: ok }), 'source'],
    [() => encodeProxyHeader('v1', { source: { address: '1.2.3.256', port: 1 }, destination: ok }), 'source.address'],
    [() => encodeProxyHeader('v2', { source: ok, destination: { address: 'fe80::1%eth0', port: 1 } }), 'destination.address'],
    [() => encodeProxyHeader('v2', { source: ok, destination: { address: 'localhost', port: 1 } }), 'destination.address'],
    [() => encodeProxyHeader('v2', { source: { address: '::1', port: 65536 }, destination: ok }), 'source.port'],
    [() => encodeProxyHeader('v2', { source: { address: '::1', port: -1 }, destination: ok }), 'source.port'],
    [() => encodeProxyHeader('v1', { source: { address: '::1', port: 1 }, destination: ok, family: 'tcp4' }), 'family'],
    [() => encodeProxyHeader('v1', { source: ok, destination: ok, family: 'udp' as 'tcp4' }), 'family'],
    [() => encodeProxyHeader('v2', { source: ok, destination: ok, tlvs: [{ type: 256, value: Buffer.alloc(1) }] }), 'tlvs[0]'],
    [() => encodeProxyHeader('v2', { source: ok, destination: ok, tlvs: [{ type: 1, value: 'h2' as unknown as Buffer }] }), 'tlvs[0]'],
    [() => encodeProxyHeader('v2', { source: ok, destination: ok, tlvs: [{ type: 4, value: Buffer.alloc(40_000) }, { type: 4, value: Buffer.alloc(40_000) }] }), 'tlvs'],
  ];
  for (const [call, option] of cases) {
    try {
      call();
      assert.unreachable(`${option}: no error`);
    } catch (err) {
      assert.instance(err, InvalidOptionError);
      assert.is((err as InvalidOptionError).option, option, (err as Error).message);
    }
  }
});

// ---------------------------------------------------------------- segmentation and hostile input

const SAMPLES: Buffer[] = [
  ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n'),
  ascii('PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1 2\r\nx'),
  ascii('PROXY UNKNOWN\r\n'),
  Buffer.concat([v2(0x21, 0x11, Buffer.concat([Buffer.from(TCP4_BLOCK), tlv(1, 'h2'), tlv(2, 'example.com'), tlv(0x20, Buffer.from([1, 0, 0, 0, 0, 0x21, 0, 3, 0x31, 0x2e, 0x33]))])), ascii('body')]),
  Buffer.concat([v2(0x20, 0x00, []), ascii('hc')]),
  Buffer.concat([encodeProxyHeader('v2', { source: { address: '2001:db8::2', port: 9 }, destination: { address: '::1', port: 10 }, tlvs: [{ type: 0xe1, value: Buffer.alloc(300, 1) }] }), ascii('after')]),
];

test('every two-piece split and every one-byte-at-a-time feed gives the same header and the same bytes after it', () => {
  for (const sample of SAMPLES) {
    const whole = outcome(feed(sample, []));
    assert.is((whole as { state: string }).state, 'done');
    for (let cut = 1; cut < sample.length; cut++) assert.equal(outcome(feed(sample, [cut])), whole, `cut at ${cut}`);
    assert.equal(outcome(feed(sample, Array.from({ length: sample.length }, (_, i) => i))), whole, 'one byte at a time');
  }
});

test('truncated headers stay need-more, never done, and end() calls them TRUNCATED', () => {
  for (const sample of SAMPLES) {
    const length = done(parseProxyHeader(sample)).header.length;
    for (let n = 1; n < length; n++) {
      const prefix = sample.subarray(0, n);
      assert.is(parseProxyHeader(prefix).state, 'need-more', `${n} of ${length} bytes`);
      const parser = new ProxyHeaderParser();
      for (let i = 0; i < n; i++) assert.is(parser.push(prefix.subarray(i, i + 1)).state, 'need-more');
      assert.is(parser.buffered, n);
      refused(parser.end(), 'PROXY_HEADER_TRUNCATED');
    }
  }
});

/** Random bytes, and random bytes behind each signature so the fuzz reaches past detection. */
const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21]), b])),
  fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, b.length]), b])),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef.: \r\nTCP46UNKOW'), maxLength: 130 }).map((s) => ascii(`PROXY ${s}`)),
  fc.tuple(fc.constantFrom('TCP4 ', 'TCP6 ', 'UNKNOWN '), fc.string({ unit: fc.constantFrom(...'0123456789abcdef.: \r\n'), maxLength: 110 })).map(([f, s]) => ascii(`PROXY ${f}${s}`)),
);
const cutsFor = fc.array(fc.nat(400), { maxLength: 20 });

test('fuzz: random and hostile bytes never throw, the buffer stays bounded, and segmentation never changes the outcome', () => {
  fc.assert(
    fc.property(hostile, cutsFor, (bytes, cuts) => {
      const buf = Buffer.from(bytes);
      const parser = new ProxyHeaderParser();
      const split = feed(buf, cuts, parser);
      assert.ok(parser.buffered <= 4096);
      assert.equal(outcome(split), outcome(feed(buf, [])));
      assert.equal(outcome(feed(buf, Array.from({ length: buf.length }, (_, i) => i))), outcome(split));
      if (split.result.state === 'done') assert.ok(split.result.header.length + split.rest.length === buf.length);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('fuzz: mutated valid headers (flipped, inserted, deleted bytes) never throw and never report more than they read', () => {
  const mutation = fc.tuple(fc.constantFrom(...SAMPLES), fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete'), fc.nat(400), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), cutsFor);
  fc.assert(
    fc.property(mutation, ([sample, edits, cuts]) => {
      let b = Buffer.from(sample);
      for (const [kind, at, byte] of edits) {
        const i = at % (b.length + 1);
        if (kind === 'flip' && i < b.length) b[i] = byte;
        else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
        else if (kind === 'delete' && i < b.length) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
      }
      const split = feed(b, cuts);
      assert.equal(outcome(split), outcome(feed(b, [])));
      if (split.result.state === 'done') {
        const h = split.result.header;
        assert.ok(h.length <= b.length);
        if (h.source) assert.ok(net.isIP(h.source.address) !== 0 && h.source.port >= 0 && h.source.port <= 65535);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test.run();
