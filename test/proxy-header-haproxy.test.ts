// The PROXY codec against a real peer: HAProxy's send-proxy / send-proxy-v2 in front of a Node
// server that reads the header with ProxyHeaderParser, and HAProxy's accept-proxy reading the
// headers encodeProxyHeader writes. Skipped when haproxy is not installed, failed in CI
// (scripts/install-peers.sh installs it).
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeProxyHeader, ProxyHeaderParser, type ProxyHeader, type ProxyHeaderFields } from '../src/index.js';
import { peerTest as peerTest_, startHaproxy } from './helpers/peers.js';
import { closeServer, closedPort, listen } from './helpers/sockets.js';

const peerTest = peerTest_('proxy-header-haproxy', 'haproxy');
const HAVE_HAPROXY = peerTest === test;

/** What the Node receiver saw on one connection: the parsed header and the first line after it. */
interface Seen {
  header: ProxyHeader;
  line: string;
}

/** A server that reads a PROXY header, then one line, and answers with both as JSON. */
async function startReceiver(): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const parser = new ProxyHeaderParser();
    let header: ProxyHeader | undefined;
    let after = '';
    socket.on('data', (chunk: Buffer) => {
      const r = parser.push(chunk);
      if (r.state === 'need-more') return;
      if (r.state === 'error') {
        socket.end(`${JSON.stringify({ error: r.code, message: r.message })}\n`);
        return;
      }
      header = r.header;
      after += r.rest.toString('latin1');
      const nl = after.indexOf('\n');
      if (nl >= 0) socket.end(`${JSON.stringify({ header, line: after.slice(0, nl) })}\n`);
    });
  });
  return { port: await listen(server), server };
}

/** Connects from `localAddress`, optionally sends `preamble`, then a line; resolves with the receiver's JSON answer. */
async function ask(port: number, localAddress: string, preamble?: Buffer): Promise<{ seen: Seen & { error?: string }; localPort: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await once(socket, 'connect');
  const localPort = socket.localPort!;
  if (preamble) socket.write(preamble);
  socket.write('hello\n');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  await once(socket, 'end');
  socket.destroy();
  assert.ok(text.endsWith('\n'), `no answer through HAProxy: ${JSON.stringify(text)}`);
  return { seen: JSON.parse(text), localPort };
}

interface Rig {
  /** HAProxy frontends: plain in, `send-proxy` (v1) out; plain in, `send-proxy-v2` with a unique-id TLV out; `accept-proxy` in, v2 out. */
  sendV1: number;
  sendV2: number;
  accept: number;
  close(): Promise<void>;
}

async function startRig(): Promise<Rig> {
  const receiver = await startReceiver();
  const [sendV1, sendV2, accept] = [await closedPort(), await closedPort(), await closedPort()];
  const haproxy = await startHaproxy(
    [
      'frontend send_v1',
      `  bind 127.0.0.1:${sendV1}`,
      '  default_backend to_node_v1',
      'frontend send_v2',
      `  bind 127.0.0.1:${sendV2}`,
      '  unique-id-format conn-%ci-%cp',
      '  default_backend to_node_v2_id',
      'frontend accept',
      `  bind 127.0.0.1:${accept} accept-proxy`,
      '  default_backend to_node_v2',
      'backend to_node_v1',
      `  server s 127.0.0.1:${receiver.port} send-proxy`,
      'backend to_node_v2',
      `  server s 127.0.0.1:${receiver.port} send-proxy-v2`,
      'backend to_node_v2_id',
      `  server s 127.0.0.1:${receiver.port} send-proxy-v2 proxy-v2-options unique-id`,
    ],
    [sendV1, sendV2, accept],
  );
  return {
    sendV1,
    sendV2,
    accept,
    async close() {
      await haproxy.stop();
      await closeServer(receiver.server);
    },
  };
}

let rig: Rig | undefined;
test.before(async () => {
  if (HAVE_HAPROXY) rig = await startRig();
});
test.after(async () => {
  await rig?.close();
});

peerTest('HAProxy send-proxy (v1): the parser reads the client bound to 127.0.0.2 as the source', async () => {
  const { seen, localPort } = await ask(rig!.sendV1, '127.0.0.2');
  assert.is(seen.error, undefined, JSON.stringify(seen));
  assert.is(seen.header.version, 1);
  assert.is(seen.header.family, 'tcp4');
  assert.equal(seen.header.source, { address: '127.0.0.2', port: localPort });
  assert.equal(seen.header.destination, { address: '127.0.0.1', port: rig!.sendV1 });
  assert.is(seen.line, 'hello', 'the bytes after the header are the client bytes');
});

peerTest('HAProxy send-proxy-v2 with a unique-id TLV: source 127.0.0.3, and the TLV decoded', async () => {
  const { seen, localPort } = await ask(rig!.sendV2, '127.0.0.3');
  assert.is(seen.error, undefined, JSON.stringify(seen));
  assert.is(seen.header.version, 2);
  assert.is(seen.header.command, 'proxy');
  assert.equal(seen.header.source, { address: '127.0.0.3', port: localPort });
  assert.equal(seen.header.destination, { address: '127.0.0.1', port: rig!.sendV2 });
  assert.is(Buffer.from((seen.header.uniqueId as unknown as { data: number[] }).data).toString(), `conn-127.0.0.3-${localPort}`);
  assert.is(seen.line, 'hello');
});

/** Our header to HAProxy's accept-proxy, which sends the address on as v2 to the parser. */
async function throughAcceptProxy(fields: ProxyHeaderFields, version: 'v1' | 'v2'): Promise<Seen & { error?: string }> {
  return (await ask(rig!.accept, '127.0.0.4', encodeProxyHeader(version, fields))).seen;
}

peerTest('HAProxy accept-proxy takes encodeProxyHeader v1 and v2 (TCP4, TCP6, IPv4-mapped) and passes the same client on', async () => {
  const cases: [ProxyHeaderFields, { address: string; port: number }][] = [
    [{ source: { address: '203.0.113.7', port: 4242 }, destination: { address: '198.51.100.1', port: 443 } }, { address: '203.0.113.7', port: 4242 }],
    [{ source: { address: '2001:db8::17', port: 1 }, destination: { address: '2001:db8::1', port: 65535 } }, { address: '2001:db8::17', port: 1 }],
    [{ source: { address: '::ffff:192.0.2.9', port: 999 }, destination: { address: '::ffff:192.0.2.1', port: 80 } }, { address: '192.0.2.9', port: 999 }],
  ];
  for (const version of ['v1', 'v2'] as const) {
    for (const [fields, client] of cases) {
      const seen = await throughAcceptProxy(fields, version);
      assert.is(seen.error, undefined, `${version} ${JSON.stringify(fields)}: ${JSON.stringify(seen)}`);
      assert.equal(seen.header.source, client, `${version} ${JSON.stringify(fields)}`);
      assert.is(seen.line, 'hello');
    }
  }
});

peerTest('HAProxy accept-proxy with LOCAL / UNKNOWN from encodeProxyHeader keeps the real client, 127.0.0.4', async () => {
  for (const version of ['v1', 'v2'] as const) {
    const seen = await throughAcceptProxy({}, version);
    assert.is(seen.error, undefined, JSON.stringify(seen));
    assert.is(seen.header.source?.address, '127.0.0.4', version);
  }
});

test.run();
