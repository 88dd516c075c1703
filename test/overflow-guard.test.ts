import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as promClient from 'prom-client';
import {
  collectMetrics,
  descriptorBudget,
  InvalidOptionError,
  ManualClock,
  OverflowGuard,
  Supervisor,
  type OverflowReason,
  type OverflowReport,
  type Refusal,
} from '../src/index.js';
import { ROOT } from './helpers/cli-harness.js';
import { limitLeaving, setSoftNofile, softNofile } from './helpers/descriptors.js';
import { closeServer, connect, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

/**
 * How a proxy asks the guard: `hook`, the guard's check as the supervisor's admission hook
 * (`Supervisor.admit`, as forward does); `admit`, the guard's own `admit()` beside a
 * supervisor without one.
 */
type Mode = 'hook' | 'admit';

/** A supervisor whose connections `guard()` admits in `mode`, and its refusals. */
function guardedSupervisor(mode: Mode, guard: () => OverflowGuard) {
  const supervisor = new Supervisor(mode === 'hook' ? { admit: () => guard().check() } : {});
  const refusals: Refusal[] = [];
  supervisor.on('refused', (r) => refusals.push(r));
  return { supervisor, refusals };
}

/** A proxy on a free port whose connections `guard` admits. */
async function guardedProxy(supervisor: Supervisor, guard: OverflowGuard, upstreamPort: number, mode: Mode = 'admit') {
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const admitted = mode === 'hook' ? supervisor.admit(client) : guard.admit(client);
    if (admitted) supervisor.forward(client, () => net.connect(upstreamPort, '127.0.0.1'));
  });
  const port = await listen(server);
  guard.attach(server);
  return { server, port };
}

test('descriptorBudget reads the soft ulimit -n and the descriptors open now, 2 per connection', async () => {
  const here = descriptorBudget()!;
  assert.ok(here !== null, 'known on Linux');
  const fd = openSync(import.meta.filename, 'r');
  try {
    assert.is(descriptorBudget()!.open, here.open + 1, 'one more file open, one more descriptor counted');
  } finally {
    closeSync(fd);
  }
  // In a child with a soft limit of 300: the limit it reads is that one.
  const script = "import { descriptorBudget } from './src/admission/descriptor-budget.ts'; console.log(JSON.stringify(descriptorBudget({ reserve: 10 })));";
  const out = execFileSync('bash', ['-c', `ulimit -n 300; exec "${process.execPath}" --import tsx --input-type=module -e "${script}"`], { cwd: ROOT, encoding: 'utf8' });
  const child = JSON.parse(out) as { limit: number; open: number; reserve: number; connections: number };
  assert.is(child.limit, 300);
  assert.is(child.reserve, 10);
  assert.ok(child.open > 3 && child.open < 300, `open ${child.open}`);
  assert.is(child.connections, Math.floor((300 - child.open - 10) / 2));
  assert.throws(() => descriptorBudget({ reserve: -1 }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'reserve');
});

test('over maxConnections, connections are closed at accept, refused through the supervisor once each, and reported once per interval with the count', async () => {
  const clock = new ManualClock();
  const { supervisor, refusals } = guardedSupervisor('admit', () => guard);
  const guard = new OverflowGuard(supervisor, { maxConnections: 3, clock });
  const metrics = await collectMetrics(supervisor, { client: promClient, guard });
  const refused: OverflowReason[] = [];
  const reports: OverflowReport[] = [];
  guard.on('refused', (r) => refused.push(r));
  guard.on('report', (r) => reports.push(r));
  const upstream = echoServer();
  const { server, port } = await guardedProxy(supervisor, guard, await listen(upstream));
  const held: net.Socket[] = [];
  try {
    assert.is(server.maxConnections, 3);
    assert.is(guard.limitFrom, 'option');
    for (let i = 0; i < 3; i++) held.push(await connect(port));
    await until(() => supervisor.stats.active === 3, 'three served');
    const over = await Promise.all(Array.from({ length: 5 }, (_, i) => roundTrip(port, `over ${i}`)));
    assert.equal(over, Array(5).fill('closed'), 'each closed at once, unserved');
    assert.equal(refused, Array(5).fill('max_connections'));
    // Node closed them unserved ('drop'): each is one refusal of the supervisor, with its address.
    await until(() => refusals.length === 5, 'five refusals');
    assert.is(supervisor.stats.refused, 5, 'counted once each');
    for (const r of refusals) assert.equal([r.reason, r.limit, r.code], ['rejected', 'max_connections', 'XA']);
    for (const r of refusals) assert.match(r.client ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(supervisor.log.records().filter((r) => r.kind === 'refused').length, 5, 'each in the event log');
    assert.is(reports.length, 0, 'no report before the interval ends');
    clock.advance(1000);
    assert.is(reports.length, 1, 'one report for the five');
    assert.equal([reports[0]!.refused, reports[0]!.active, reports[0]!.periodMs], [{ max_connections: 5, backoff: 0 }, 3, 1000]);
    clock.advance(5000);
    assert.is(reports.length, 1, 'nothing refused since: no report');
    const text = await metrics.register.metrics();
    assert.match(text, /proxy_lifecycle_downstream_cx_overflow_total\{reason="max_connections"\} 5\n/);
    assert.match(text, /proxy_lifecycle_downstream_cx_overflow_total\{reason="backoff"\} 0\n/);
    assert.match(text, /proxy_lifecycle_downstream_cx_refused_total\{reason="rejected",limit="max_connections"\} 5\n/);
    for (const s of held) s.destroy();
    await until(() => supervisor.stats.active === 0, 'held ones closed');
    assert.is(await roundTrip(port, 'served again'), 'served again');
    assert.equal(guard.totals.refused, { max_connections: 5, backoff: 0 });
  } finally {
    for (const s of held) s.destroy();
    guard.close();
    metrics.stop();
    await closeServer(server);
    await closeServer(upstream);
  }
});

for (const mode of ['hook', 'admit'] as const) test(`an upstream connect out of file descriptors (real EMFILE) starts a back-off: new connections are refused once each until it ends (guard ${mode === 'hook' ? 'as the admission hook' : '.admit()'})`, async () => {
  const clock = new ManualClock();
  const { supervisor, refusals } = guardedSupervisor(mode, () => guard);
  const guard = new OverflowGuard(supervisor, { maxConnections: Infinity, backoff: 100, clock });
  const exhausted: string[] = [];
  const reports: OverflowReport[] = [];
  guard.on('exhausted', (op, code) => exhausted.push(`${op} ${code}`));
  guard.on('report', (r) => reports.push(r));
  const upstream = echoServer();
  const { server, port } = await guardedProxy(supervisor, guard, await listen(upstream), mode);
  const soft = softNofile();
  // Restores this process's limit when told, without a descriptor of ours: it is started
  // before the limit drops, and told through the stdin pipe it already has.
  const restorer = spawn('bash', ['-c', `read -r _; exec prlimit --pid ${process.pid} --nofile=${soft}:`], { stdio: ['pipe', 'ignore', 'ignore'] });
  const restored = new Promise((resolve) => restorer.once('exit', resolve));
  let client: net.Socket | undefined;
  try {
    await new Promise((r) => setTimeout(r, 50));
    // Room for exactly two more: the test's client socket and the proxy's accepted one; the
    // upstream socket then fails with EMFILE.
    const limit = limitLeaving(2);
    setSoftNofile(process.pid, limit);
    client = net.connect(port, '127.0.0.1');
    client.on('error', () => {}).resume();
    await until(() => exhausted.length > 0, 'the upstream connect ran out');
    client.destroy();
    restorer.stdin!.end('\n');
    await restored;
    assert.equal(exhausted, ['connect EMFILE']);
    const info = supervisor.stats;
    assert.equal([info.total, info.active], [1, 0]);

    // The back-off holds until the clock moves: a connection now is closed unserved.
    assert.is(await roundTrip(port, 'too soon'), 'closed');
    assert.equal(guard.totals.refused, { max_connections: 0, backoff: 1 });
    // One refusal, one count: the guard's totals are the supervisor's refusals, not a second tally.
    assert.equal([supervisor.stats.refused, refusals.map((r) => r.limit)], [1, ['backoff']]);
    assert.is(supervisor.stats.total, 1, 'never forwarded');
    clock.advance(100);
    assert.is(await roundTrip(port, 'after the back-off'), 'after the back-off');
    clock.advance(1000);
    assert.is(reports.length, 1);
    assert.equal([reports[0]!.exhausted, reports[0]!.refused, reports[0]!.codes], [{ accept: 0, connect: 1 }, { max_connections: 0, backoff: 1 }, ['EMFILE']]);
  } finally {
    client?.destroy();
    if (restorer.exitCode === null) restorer.stdin!.end('\n');
    await restored;
    guard.close();
    await closeServer(server);
    await closeServer(upstream);
  }
  assert.is(softNofile(), soft, 'the limit is back');
});

test('close() emits the pending report at once and stops counting; bad options name themselves', async () => {
  const clock = new ManualClock();
  const supervisor = new Supervisor();
  const guard = new OverflowGuard(supervisor, { maxConnections: 1, clock });
  const reports: OverflowReport[] = [];
  guard.on('report', (r) => reports.push(r));
  const upstream = echoServer();
  const { server, port } = await guardedProxy(supervisor, guard, await listen(upstream));
  const held = await connect(port);
  try {
    await until(() => supervisor.stats.active === 1, 'one served');
    assert.is(await roundTrip(port, 'over'), 'closed');
    clock.advance(250);
    guard.close();
    guard.close();
    assert.equal(reports.map((r) => [r.refused.max_connections, r.periodMs]), [[1, 250]]);
    assert.is(server.listenerCount('drop'), 0);
    assert.is(supervisor.listenerCount('close'), 0);
    assert.is(supervisor.listenerCount('refused'), 0, 'no longer reads the supervisor\'s refusals');
  } finally {
    held.destroy();
    await closeServer(server);
    await closeServer(upstream);
  }
  for (const [option, value] of [['maxConnections', 0], ['maxConnections', 2.5], ['admissionMaxConnections', 0], ['backoff', -1], ['reportInterval', 0]] as const) {
    assert.throws(
      () => new OverflowGuard(new Supervisor(), { [option]: value }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option && e.message.startsWith(`${option} must be`),
      `${option}: ${value}`,
    );
  }
});

test.run();
