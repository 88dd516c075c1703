import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuilt, runCli, startForward, startForwardWithNofile, type Child } from './helpers/cli-harness.js';
import { limitLeaving, setSoftNofile } from './helpers/descriptors.js';
import { closeServer, echoServer, listen, roundTrip } from './helpers/sockets.js';

ensureBuilt();

type Outcome = 'served' | 'closed' | 'hung';

/**
 * Opens `n` clients at once, each sending a line and waiting for its echo; every one stays
 * open until all have an outcome, so the proxy holds as many as it serves. A client never
 * answered within 10 s counts as hung (the proxy must refuse promptly, not leave it waiting).
 */
async function storm(port: number, n: number): Promise<Outcome[]> {
  const sockets: net.Socket[] = [];
  const outcomes = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<Outcome>((resolve) => {
        const text = `client ${i}\n`;
        const socket = net.connect(port, '127.0.0.1');
        sockets.push(socket);
        let got = '';
        const timer = setTimeout(() => resolve('hung'), 10_000);
        const settle = (outcome: Outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        };
        socket.on('connect', () => socket.write(text));
        socket.on('data', (d: Buffer) => {
          got += d.toString();
          if (got === text) settle('served');
        });
        socket.on('error', () => settle('closed'));
        socket.on('close', () => settle(got === text ? 'served' : 'closed'));
      }),
    ),
  );
  for (const s of sockets) s.destroy();
  return outcomes;
}

/** The value of one series in the proxy's /metrics. */
async function scrape(url: string, series: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} in ${text}`);
  return Number(line!.slice(series.length + 1));
}

const count = (outcomes: Outcome[], o: Outcome) => outcomes.filter((x) => x === o).length;
const REPORT = /^refused (\d+) connections? in the last [\d.]+ s: out of file descriptors \(limit 256, 2 per connection; (\d+) connections? open\); raise ulimit -n$/;

async function stop(child: Child): Promise<void> {
  child.kill('SIGTERM');
  assert.is((await child.done()).code, 0, child.stderr);
}

test('under ulimit -n 256, 400 clients at once: the proxy serves what fits, refuses the rest at once, reports and counts them, and serves again after', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForwardWithNofile(256, ['--target', `127.0.0.1:${upstreamPort}`, '--metrics', '127.0.0.1:0', '--quiet']);
  try {
    const [, url] = (await child.waitFor('stdout', /^metrics on (\S+)$/))!;
    const outcomes = await storm(port, 400);
    assert.is(count(outcomes, 'hung'), 0, 'every client served or closed promptly');
    const served = count(outcomes, 'served');
    const closed = count(outcomes, 'closed');
    assert.ok(served > 50 && closed > 0, `served ${served}, closed ${closed}`);

    // One line a second at most, with the count: together they account for every refusal.
    await child.waitFor('stderr', REPORT);
    await new Promise((r) => setTimeout(r, 1100)); // a storm that straddled a second has a second line
    const reports = child.stderrLines().map((l) => l.match(REPORT)).filter((m) => m !== null);
    assert.is(child.stderrLines().length, reports.length, `only report lines: ${child.stderr}`);
    assert.is(reports.reduce((n, m) => n + Number(m![1]), 0), closed, 'the reports count every client closed');
    assert.is(Number(reports.at(-1)![2]), served, 'as many open as were served: the proxy was full');
    assert.is(await scrape(url!, 'proxy_lifecycle_downstream_cx_overflow_total{reason="max_connections"}'), closed);
    // The clients Node dropped at the budget are refusals of the supervisor too, counted once.
    assert.is(await scrape(url!, 'proxy_lifecycle_downstream_cx_refused_total{reason="rejected",limit="max_connections"}'), closed);
    assert.is(await scrape(url!, 'proxy_lifecycle_downstream_cx_refused_total{reason="rejected",limit="backoff"}'), 0);
    assert.is(await scrape(url!, 'proxy_lifecycle_fd_exhausted_total{op="connect",code="EMFILE"}'), 0, 'the budget kept it from EMFILE');
    assert.is(await scrape(url!, 'proxy_lifecycle_downstream_cx_total'), served);

    assert.is(await roundTrip(port, 'after the storm'), 'after the storm', 'served again once the clients are gone');
    await stop(child);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('--max-connections N closes connections over N at once and says so once, naming the flag', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const json = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--max-connections', '3', '--json']);
  const text = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--max-connections', '1', '--quiet']);
  try {
    const outcomes = await storm(json.port, 8);
    assert.equal([count(outcomes, 'served'), count(outcomes, 'closed'), count(outcomes, 'hung')], [3, 5, 0]);
    const [line] = (await json.child.waitFor('stderr', /^\{.*"event":"overflow".*\}$/))!;
    const report = JSON.parse(line!) as Record<string, unknown>;
    assert.equal(
      [report.refused, report.refused_max_connections, report.refused_backoff, report.max_connections, report.limit_from, report.active],
      [5, 5, 0, 3, 'option', 3],
    );
    const one = await storm(text.port, 3);
    assert.equal([count(one, 'served'), count(one, 'closed')], [1, 2]);
    await text.child.waitFor('stderr', /^refused 2 connections in the last 1 s: --max-connections 1 reached \(1 connection open\)$/);
    await stop(json.child);
    await stop(text.child);
  } finally {
    await json.child.dispose();
    await text.child.dispose();
    await closeServer(upstream);
  }
});

test('an upstream connect out of file descriptors (real EMFILE) is reported with its code, counted, and the proxy recovers', async () => {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const { child, port } = await startForwardWithNofile(256, ['--target', `127.0.0.1:${upstreamPort}`, '--metrics', '127.0.0.1:0', '--quiet']);
  const pid = child.process.pid!;
  try {
    const [, url] = (await child.waitFor('stdout', /^metrics on (\S+)$/))!;
    // Room for one more descriptor: the accepted client's. Its upstream socket gets EMFILE.
    setSoftNofile(pid, limitLeaving(1, pid));
    assert.is(await roundTrip(port, 'no room upstream'), 'closed', 'closed, not left hanging');
    const [line] = (await child.waitFor('stderr', /^ran out of file descriptors in the last.*$/))!;
    setSoftNofile(pid, 256);
    assert.match(line!, /^ran out of file descriptors in the last 1 s \(EMFILE on 1 upstream connect, new connections closed for 100 ms after each; limit 256, 2 per connection; 0 connections open\); raise ulimit -n$/);
    assert.is(await scrape(url!, 'proxy_lifecycle_fd_exhausted_total{op="connect",code="EMFILE"}'), 1);
    assert.is(await scrape(url!, 'proxy_lifecycle_cx_termination_total{code="RK"}'), 1, 'the connection itself ends as a failed upstream connect');
    // The report comes at the end of its 1 s period, long after the 100 ms back-off.
    assert.is(await roundTrip(port, 'room again'), 'room again');
    await stop(child);
  } finally {
    await child.dispose();
    await closeServer(upstream);
  }
});

test('--max-connections: a bad value is one line and exit 2; more than ulimit -n allows is a warning before listening on', async () => {
  for (const bad of ['0', '-3', '2.5', 'many']) {
    const res = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--max-connections', bad]);
    assert.is(res.code, 2, bad);
    assert.is(res.stderr.trim(), `proxy-lifecycle: --max-connections must be a whole number from 1 to 2147483647, got ${JSON.stringify(bad)}`);
    assert.is(res.stdout, '');
  }
  const { child } = await startForwardWithNofile(256, ['--target', '127.0.0.1:9', '--max-connections', '1000', '--quiet']);
  try {
    await child.waitFor('stderr', /^--max-connections 1000 needs 2000 file descriptors, but ulimit -n 256 leaves room for \d+ connections: raise ulimit -n$/);
    await stop(child);
  } finally {
    await child.dispose();
  }
});

test.run();
