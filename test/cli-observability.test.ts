import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { machineDiagram } from '../src/index.js';
import { ensureBuilt, runCli, startForward } from './helpers/cli-harness.js';
import { closeServer, connect, echoServer, listen, readAll } from './helpers/sockets.js';

ensureBuilt();

test('diagram prints the statechart generated from the machine, as mermaid or dot', async () => {
  const mermaid = await runCli(['diagram']);
  assert.is(mermaid.code, 0);
  assert.is(mermaid.stdout.trim(), machineDiagram('mermaid').trim());
  assert.match(mermaid.stdout, /stateDiagram-v2/);
  const dot = await runCli(['diagram', '--format', 'dot']);
  assert.is(dot.code, 0);
  assert.is(dot.stdout.trim(), machineDiagram('dot').trim());
});

test('diagram rejects an unknown format in one line, exit 2', async () => {
  const bad = await runCli(['diagram', '--format', 'png']);
  assert.is(bad.code, 2);
  assert.is(bad.stderr.trim(), 'proxy-lifecycle: --format must be mermaid or dot, got "png"');
  assert.is(bad.stdout, '');
});

test('replay --html writes one self-contained timeline page for the log, or for one connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pl-html-'));
  try {
    const log = join(dir, 'log.jsonl');
    const settings = { socketTimeout: 0, timeoutBehavior: 'reset', allowHalfOpen: true, gracePeriod: 5000, parityTimeout: 1800000, parityInactivity: 600000, connectTimeout: 30000, idleTimeout: 0, maxLifetime: 0 };
    const lines = [1, 2].flatMap((conn) => [
      { t: 0, conn, kind: 'open', settings, client: `127.0.0.1:${4000 + conn}` },
      { t: 1, conn, kind: 'event', event: { type: 'CONNECTED' } },
      { t: 2, conn, kind: 'event', event: { type: 'ERROR', side: 'server', code: 'ECONNRESET' } },
      { t: 3, conn, kind: 'event', event: { type: 'CLOSE', side: 'client' } },
    ]);
    writeFileSync(log, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const out = join(dir, 'all.html');
    const all = await runCli(['replay', log, '--html', out]);
    assert.is(all.code, 0, all.stderr);
    assert.is(all.stdout.trim(), `wrote ${out} (2 connections)`);
    const page = readFileSync(out, 'utf8');
    assert.match(page, /^<!doctype html>/i);
    assert.not.match(page, /<script[^>]+src=|<link[^>]+href=/i, 'no external resources');
    const one = await runCli(['replay', log, '--connection', '2', '--html', join(dir, 'one.html')]);
    assert.is(one.stdout.trim(), `wrote ${join(dir, 'one.html')} (1 connection)`);
    const missing = await runCli(['replay', log, '--connection', '9', '--html', join(dir, 'x.html')]);
    assert.is(missing.code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('forward --metrics serves Prometheus metrics that count the proxied connections', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--metrics', '127.0.0.1:0', '--quiet']);
  try {
    const [, url] = (await child.waitFor('stdout', /^metrics on (http:\/\/\S+)$/m))!;
    for (let i = 0; i < 2; i++) {
      const client = await connect(port);
      const got = readAll(client);
      client.end('ping!');
      assert.is((await got).toString(), 'ping!');
      client.destroy();
    }
    let text = '';
    for (let tries = 0; tries < 100 && !/_downstream_cx_total 2\b/.test(text); tries++) {
      text = await (await fetch(url!)).text();
      if (!/_downstream_cx_total 2\b/.test(text)) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(text, /proxy_lifecycle_downstream_cx_total 2\b/);
    assert.match(text, /proxy_lifecycle_cx_termination_total\{code="CO"\} 2\b/);
    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('forward --metrics with a bad address is one line and exit 2', async () => {
  const bad = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--metrics', 'nope']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr.trim(), /^proxy-lifecycle: --metrics: /);
});

test('forward --metrics on a port in use fails before listening on: one line naming the flag, exit 2', async () => {
  const taken = echoServer();
  const takenPort = await listen(taken);
  try {
    const bad = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--metrics', `127.0.0.1:${takenPort}`]);
    assert.is(bad.code, 2);
    assert.is(bad.stderr.trim(), `proxy-lifecycle: --metrics: cannot listen on 127.0.0.1:${takenPort}: the address is already in use`);
    assert.not.match(bad.stdout, /listening on/, 'no listening on line for a proxy that did not start');
  } finally {
    await closeServer(taken);
  }
});

test.run();
