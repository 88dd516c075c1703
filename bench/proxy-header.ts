/**
 * Micro-benchmark of the PROXY protocol codec: what reading or writing one header costs per
 * connection. Not part of `npm test`.
 *
 *   node --import tsx bench/proxy-header.ts [iterations]
 *
 * Each row is a new parser per header (as per connection), the header and a small payload in
 * one chunk unless it says split; the median of 7 runs after a warm-up.
 */
import { cpus } from 'node:os';
import { encodeProxyHeader, normalizeAddress, ProxyHeaderParser } from '../src/index.js';

const N = Number(process.argv[2] ?? 200_000);
const payload = Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
const v4 = { source: { address: '203.0.113.7', port: 51234 }, destination: { address: '198.51.100.1', port: 443 } };
const v6 = { source: { address: '2001:db8:85a3::8a2e:370:7334', port: 51234 }, destination: { address: '2001:db8::1', port: 443 } };
const tlvs = [
  { type: 0x01, value: Buffer.from('h2') },
  { type: 0x02, value: Buffer.from('www.example.com') },
  { type: 0x05, value: Buffer.alloc(32, 7) },
];
const withPayload = (h: Buffer) => Buffer.concat([h, payload]);
const inputs = {
  'v1 TCP4': withPayload(encodeProxyHeader('v1', v4)),
  'v1 TCP6': withPayload(encodeProxyHeader('v1', v6)),
  'v2 TCP4': withPayload(encodeProxyHeader('v2', v4)),
  'v2 TCP6': withPayload(encodeProxyHeader('v2', v6)),
  'v2 TCP4 + 3 TLVs': withPayload(encodeProxyHeader('v2', { ...v4, tlvs })),
};

let sink = 0;

function measure(name: string, iterations: number, run: () => void): void {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) run();
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    runs.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  runs.sort((a, b) => a - b);
  const median = runs[3]!;
  console.log(`| ${name.padEnd(34)} | ${(median / 1000).toFixed(3).padStart(7)} | ${Math.round(1e9 / median).toLocaleString('en').padStart(11)} |`);
}

function parseWhole(bytes: Buffer): void {
  const r = new ProxyHeaderParser().push(bytes);
  if (r.state !== 'done') throw new Error(r.state);
  sink += r.rest.length;
}

function parseSplit(bytes: Buffer, size: number): void {
  const parser = new ProxyHeaderParser();
  for (let at = 0; at < bytes.length; at += size) {
    const r = parser.push(bytes.subarray(at, at + size));
    if (r.state === 'done') return void (sink += r.rest.length);
    if (r.state === 'error') throw new Error(r.code);
  }
  throw new Error('no header');
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${N} iterations x 7 runs, median\n`);
console.log('| operation                          |      µs |     ops/s   |');
console.log('|------------------------------------|---------|-------------|');
for (const [name, bytes] of Object.entries(inputs)) measure(`parse ${name}`, N, () => parseWhole(bytes));
measure('parse v1 TCP4, split in 2 segments', N, () => parseSplit(inputs['v1 TCP4'], 24));
measure('parse v2 TCP4, split in 2 segments', N, () => parseSplit(inputs['v2 TCP4'], 14));
measure('parse v1 TCP4, 1 byte per segment', N / 20, () => parseSplit(inputs['v1 TCP4'], 1));
measure('parse v2 TCP4, 1 byte per segment', N / 20, () => parseSplit(inputs['v2 TCP4'], 1));
measure('encode v1 TCP4', N, () => (sink += encodeProxyHeader('v1', v4).length));
measure('encode v2 TCP4', N, () => (sink += encodeProxyHeader('v2', v4).length));
measure('encode v2 TCP6', N, () => (sink += encodeProxyHeader('v2', v6).length));
measure('normalizeAddress (::ffff:a.b.c.d)', N, () => (sink += normalizeAddress('::ffff:203.0.113.7').length));
measure('normalizeAddress (IPv4, unchanged)', N, () => (sink += normalizeAddress('203.0.113.7').length));
if (sink === 0) console.log('(sink)');
