// The inspector relay served on `ws`: the same protocol as @statelyai/inspect's relay (each
// text message to every other client, the last 200 replayed to a late one), a page that works
// in a real browser against a stand-in for the Stately UI, and browser pages of other sites
// kept out.
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ws from 'ws';
import { Supervisor } from '../src/index.js';
import { startInspectorRelay, type InspectorRelay } from '../src/inspect/inspector-relay.js';
import { startInspectorServer } from '../src/inspect/inspector-server.js';
import { relayPageHtml } from '../src/inspect/relay-page.js';
import { closeServer, connect, echoServer, listen, readAll } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.log(`  inspector-relay: ${CHROMIUM} is not installed, the browser test is skipped (apt-get install -y chromium)`);
const browserTest = HAVE_CHROMIUM ? test : test.skip;

const relayOn = (host = '127.0.0.1') => startInspectorRelay(ws, { host, port: 0, inspectorUrl: 'https://stately.ai/inspect' });

/** A client of the relay that records what it receives; `options` as `ws` takes them (origin, headers). */
class Client {
  readonly received: string[] = [];
  readonly socket: ws.WebSocket;
  /** The HTTP status of a refused upgrade. */
  refused: number | undefined;
  closed = false;

  constructor(url: string, options: ws.ClientOptions = {}) {
    this.socket = new ws.WebSocket(url, options);
    this.socket.on('message', (data) => this.received.push(String(data)));
    this.socket.on('unexpected-response', (_req, res) => {
      this.refused = res.statusCode;
      this.socket.terminate();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }

  /** Resolves with 'open', or with the status the relay refused it with. */
  async outcome(): Promise<'open' | number> {
    await until(() => this.socket.readyState === ws.WebSocket.OPEN || this.refused !== undefined || this.closed, 'relay answered');
    return this.refused ?? (this.socket.readyState === ws.WebSocket.OPEN ? 'open' : -1);
  }
}

const wsUrl = (relay: InspectorRelay) => `ws://127.0.0.1:${relay.address.port}`;

test('each message goes to every other client, not back to its sender; a late client gets the last 200', async () => {
  const relay = await relayOn();
  const clients: Client[] = [];
  try {
    const sender = new Client(wsUrl(relay));
    const early = new Client(wsUrl(relay));
    clients.push(sender, early);
    assert.is(await sender.outcome(), 'open');
    assert.is(await early.outcome(), 'open');
    const sent = Array.from({ length: 250 }, (_, i) => JSON.stringify({ type: '@xstate.event', n: i }));
    for (const m of sent) sender.socket.send(m);
    await until(() => early.received.length === 250, 'all 250 relayed');
    assert.equal(early.received, sent, 'in order, as sent');
    const late = new Client(wsUrl(relay));
    clients.push(late);
    await until(() => late.received.length === 200, 'replayed');
    assert.equal(late.received, sent.slice(50), 'the last 200, in order');
    // The other way round: the late client's message reaches the sender and the early one.
    late.socket.send('{"type":"back"}');
    await until(() => sender.received.includes('{"type":"back"}') && early.received.includes('{"type":"back"}'), 'relayed back');
    assert.is(sender.received.length, 1, 'the sender never got its own 250');
    assert.is(late.received.length, 200, 'nor did the late one get its own');
  } finally {
    for (const c of clients) c.socket.terminate();
    await relay.close();
  }
});

test('a client that breaks the WebSocket protocol is dropped, the relay goes on', async () => {
  const relay = await relayOn();
  const viewer = new Client(wsUrl(relay));
  const sender = new Client(wsUrl(relay));
  try {
    assert.is(await viewer.outcome(), 'open');
    assert.is(await sender.outcome(), 'open');
    // A raw upgrade, then an unmasked frame: a protocol error on the server side, which ws
    // reports as an 'error' event (fatal to a process without a listener).
    const raw = net.connect(relay.address.port, '127.0.0.1');
    raw.on('error', () => {});
    raw.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    let answer = '';
    raw.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await until(() => answer.includes('\r\n\r\n'), 'upgrade answered');
    assert.match(answer, /^HTTP\/1\.1 101 /);
    raw.write(Buffer.from([0x81, 0x01, 0x61]));
    await until(() => raw.destroyed || raw.readableEnded, 'the bad client was dropped');
    sender.socket.send('{"type":"still"}');
    await until(() => viewer.received.includes('{"type":"still"}'), 'the relay still relays');
  } finally {
    viewer.socket.terminate();
    sender.socket.terminate();
    await relay.close();
  }
});

test('browser pages of other sites and rebound host names are refused; the relay page and plain clients are not', async () => {
  const relay = await relayOn();
  const port = relay.address.port;
  const clients: Client[] = [];
  const open = (url: string, options?: ws.ClientOptions) => {
    const c = new Client(url, options);
    clients.push(c);
    return c.outcome();
  };
  try {
    assert.is(await open(wsUrl(relay)), 'open', 'no Origin: not a browser (the inspector, ws)');
    assert.is(await open(wsUrl(relay), { origin: `http://127.0.0.1:${port}` }), 'open', "the relay's own page");
    assert.is(await open(`ws://localhost:${port}`, { origin: `http://localhost:${port}`, family: 4 }), 'open', 'the page opened at localhost');
    assert.is(await open(wsUrl(relay), { origin: 'https://evil.example' }), 403, 'a page of another site');
    assert.is(await open(wsUrl(relay), { origin: `http://127.0.0.1:${port + 1}` }), 403, 'another port is another origin');
    assert.is(await open(wsUrl(relay), { origin: 'null' }), 403, 'an opaque origin');
    // DNS rebinding: a foreign name that resolves to 127.0.0.1; Origin and Host agree.
    const rebound = { origin: `http://evil.example:${port}`, headers: { host: `evil.example:${port}` } };
    assert.is(await open(wsUrl(relay), rebound), 403, 'a rebound name on a loopback relay');
    // The page itself holds no data and is served to anyone.
    const page = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: `evil.example:${port}` } });
    assert.is(page.status, 200);
  } finally {
    for (const c of clients) c.socket.terminate();
    await relay.close();
  }
  // Bound to every interface, any name may reach it (other machines can anyway); other sites' pages still cannot.
  const wide = await relayOn('0.0.0.0');
  const widePort = wide.address.port;
  try {
    assert.is(await open(`ws://127.0.0.1:${widePort}`, { origin: `http://proxy.example:${widePort}`, headers: { host: `proxy.example:${widePort}` } }), 'open');
    assert.is(await open(`ws://127.0.0.1:${widePort}`, { origin: 'https://evil.example' }), 403);
  } finally {
    for (const c of clients) c.socket.terminate();
    await wide.close();
  }
});

test('close() drops the clients still connected, stops listening, and is safe twice', async () => {
  const relay = await relayOn();
  const viewer = new Client(wsUrl(relay));
  assert.is(await viewer.outcome(), 'open');
  let code: number | undefined;
  viewer.socket.on('close', (c) => (code = c));
  await Promise.all([relay.close(), relay.close()]);
  await until(() => viewer.closed, 'viewer dropped');
  assert.is(code, 1001, 'going away');
  const refused = new Client(wsUrl(relay));
  await until(() => refused.closed, 'connect failed');
  assert.is(refused.socket.readyState, ws.WebSocket.CLOSED);
  await relay.close();
});

test('the page is the Stately bridge page, for any path, with the inspector URL escaped', async () => {
  const relay = await startInspectorRelay(ws, { host: '127.0.0.1', port: 0, inspectorUrl: 'https://ui.example/inspect?a=1&b="2"' });
  try {
    for (const path of ['/', '/anything']) {
      const res = await fetch(`http://127.0.0.1:${relay.address.port}${path}`);
      assert.is(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/html/);
      const html = await res.text();
      assert.match(html, /<title>Stately Inspector<\/title>/);
      assert.ok(html.includes('<iframe id="inspector" src="https://ui.example/inspect?a=1&amp;b=&quot;2&quot;"></iframe>'), html);
      assert.ok(html.includes("new WebSocket('ws://' + location.host)"), "the relay's own address, whatever it was opened at");
    }
  } finally {
    await relay.close();
  }
  assert.ok(relayPageHtml('x').includes("e.data.type === '@statelyai.connected'"), 'posts once the UI says it is connected');
});

// A stand-in for https://stately.ai/inspect, as @statelyai/inspect's createBrowserReceiver is
// inside the iframe: it tells its parent '@statelyai.connected' (late, so the page buffers
// first) and keeps the messages it is posted that are inspection events (type and _version).
const FAKE_UI = `<!DOCTYPE html><script>
  window.received = [];
  window.addEventListener('message', (e) => {
    if (e.data && typeof e.data.type === 'string' && typeof e.data._version === 'string') window.received.push(e.data);
  });
  setTimeout(() => window.parent.postMessage({ type: '@statelyai.connected' }, '*'), 300);
</script>`;

browserTest('in a browser, the relay page feeds a Stately UI in its iframe: events from before and after it connected', async () => {
  const ui = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(FAKE_UI));
  const uiPort = await listen(ui);
  const inspector = await startInspectorServer({ inspectorUrl: `http://localhost:${uiPort}/inspect` });
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const supervisor = new Supervisor({ inspect: { observer: inspector.observer } });
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => supervisor.forward(c, () => net.connect(upstreamPort, '127.0.0.1')));
  const port = await listen(proxy);
  const roundTrip = async (text: string) => {
    const client = await connect(port);
    const got = readAll(client);
    client.end(text);
    assert.is((await got).toString(), text);
    client.destroy();
    await until(() => supervisor.stats.closed === supervisor.stats.total, 'closed');
  };
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // Connection 1 before the page is open: it reaches the page as the relay's replay.
    await roundTrip('one');
    const page = await browser.newPage();
    await page.goto(inspector.url);
    const frame = () => page.frames().find((f) => f.url().startsWith(`http://localhost:${uiPort}/`));
    await until(() => frame() !== undefined, 'the UI iframe loaded');
    type Seen = { type: string; sessionId: string; snapshot?: { status?: string; context?: { bytes?: { clientToServer: number } } } };
    const received = () => frame()!.evaluate(() => (window as unknown as { received: Seen[] }).received);
    const finals = async () =>
      (await received()).filter((m) => m.type === '@xstate.snapshot' && m.snapshot?.status === 'done').map((m) => m.snapshot!.context!.bytes!.clientToServer);
    let done: number[] = [];
    const deadline = Date.now() + 10_000;
    while (!(done = await finals()).includes(3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, [3], "connection 1's final snapshot, buffered until the UI connected");
    // Connection 2 while the page is open and the UI connected: posted live.
    await roundTrip('second');
    while (!(done = await finals()).includes(6) && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, [3, 6]);
    const all = await received();
    assert.is(new Set(all.filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId)).size, 2, 'two actors registered');
  } finally {
    await browser.close();
    await inspector.close();
    await closeServer(proxy);
    await closeServer(upstream);
    await new Promise((r) => ui.close(r));
  }
});

test.run();
