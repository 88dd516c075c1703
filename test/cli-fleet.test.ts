// A fleet on one JetStream stream, through the built binary and a real nats-server: three
// `forward` processes (two of them with two workers) log every connection to the same stream,
// and `replay nats://…` tells, for each, what that proxy's own access log said. Then NATS
// crashes mid-traffic: clients are still served, and the stream says exactly what it lost.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLines, ensureBuilt, runCli, startForward, type Child } from './helpers/cli-harness.js';
import { peerTest as peerTest_, startNats } from './helpers/peers.js';
import { closeServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();
const peerTest = peerTest_('cli-fleet', 'nats-server', ['--version']);

/**
 * The upstream: `close:` gets `bye` and the server's FIN at once (the server closes first);
 * anything else is echoed until the client's FIN, then FIN back.
 */
function fleetUpstream(): net.Server {
  return net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (first: Buffer) => {
      if (first.toString().startsWith('close:')) return void s.end('bye');
      s.write(first);
      s.on('data', (d: Buffer) => s.write(d));
      s.on('end', () => s.end());
    });
  });
}

type Kind = 'fin' | 'server' | 'reset' | 'idle';
const KINDS: readonly Kind[] = ['fin', 'server', 'reset', 'idle'];

/**
 * One connection through the proxy on `port`, ending the way `kind` says; resolves with what
 * the client received (the round trip the test checks): `fin` half-closes after its text and
 * reads the echo, `server` is closed by the upstream after `bye`, `reset` resets once its
 * echo is back, `idle` goes silent after its echo until the proxy's --idle-timeout closes it.
 */
function drive(port: number, kind: Kind, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (kind !== 'reset') reject(new Error(`${kind} ${text}: ${err.code ?? err.message}`));
    });
    s.on('connect', () => {
      if (kind === 'fin') s.end(text);
      else if (kind === 'server') s.write(`close:${text}`);
      else s.write(text);
    });
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (kind === 'reset' && got === text) {
        s.resetAndDestroy();
        resolve(got);
      }
    });
    s.on('close', () => resolve(got));
  });
}

/** `n` connections through `port`, the kinds in turn, a few at a time; asserts every round trip. */
async function traffic(port: number, tag: string, n: number): Promise<void> {
  const runs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const text = `${tag}-${i}`;
    runs.push(drive(port, kind, text).then((got) => assert.is(got, kind === 'server' ? 'bye' : text, `${kind} round trip ${text}`)));
    if (runs.length % 5 === 0) await Promise.all(runs.slice(-5));
  }
  await Promise.all(runs);
}

/** What replay says of one connection: its close (term and reasons) or that it is incomplete. */
type Told = { exact: true; term: string; client: string; server: string } | { exact: false };

/** Parses replay's output: connection id → what its closing line says. */
function replayed(stdout: string): Map<string, Told> {
  const told = new Map<string, Told>();
  for (const block of stdout.split(/^(?=connection \S+ from )/m)) {
    const id = /^connection (\S+) from /.exec(block)?.[1];
    if (id === undefined) continue;
    const closed = /^ {2}closed after \d+ ms: term (\S+), client (\S+), server ([^,\s]+)/m.exec(block);
    if (closed !== null) told.set(id, { exact: true, term: closed[1]!, client: closed[2]!, server: closed[3]! });
    else if (new RegExp(`^ {2}connection ${id}: incomplete, `, 'm').test(block)) told.set(id, { exact: false });
  }
  const skipped = /^skipped connections? (.+): the log lost/m.exec(stdout);
  for (const id of skipped?.[1]!.split(', ') ?? []) told.set(id, { exact: false });
  return told;
}

/** Asserts replay told every access-log line's connection; `exactOnly`: none may be incomplete. Returns how many were incomplete. */
function matchAccessLog(child: Child, told: Map<string, Told>, exactOnly: boolean): number {
  let incomplete = 0;
  for (const line of accessLines(child)) {
    const t = told.get(line.conn!);
    assert.ok(t !== undefined, `replay tells connection ${line.conn}`);
    if (!t.exact) {
      assert.ok(!exactOnly, `connection ${line.conn} is complete`);
      incomplete++;
      continue;
    }
    assert.equal({ term: t.term, client: t.client, server: t.server }, { term: line.term, client: line.client_close, server: line.server_close }, `connection ${line.conn}`);
  }
  return incomplete;
}

const PER_PROXY = 20;

peerTest('three proxies (two with two workers) on one stream: replay gives every connection the close its access log gave', async () => {
  const nats = await startNats();
  const upstream = fleetUpstream();
  const upstreamPort = await listen(upstream);
  const children: Child[] = [];
  try {
    const url = `nats://${nats.url}/FLEET`;
    const proxies = [
      { name: 'edge-a', workers: ['--workers', '2'] },
      { name: 'edge-b', workers: ['--workers', '2'] },
      { name: 'edge-c', workers: [] },
    ];
    const ports: number[] = [];
    for (const p of proxies) {
      const { child, port } = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--idle-timeout', '300ms', '--instance', p.name, ...p.workers, '--log', `${url}?instance=${p.name}`]);
      children.push(child);
      ports.push(port);
    }
    await Promise.all(ports.map((port, i) => traffic(port, proxies[i]!.name, PER_PROXY)));
    for (const child of children) await until(() => accessLines(child).length === PER_PROXY, () => `${PER_PROXY} access-log lines: ${child.stderr}`);
    for (const child of children) child.kill('SIGTERM');
    for (const child of children) assert.equal(await child.done(), { code: 0, signal: null }, child.stderr);

    const all = await runCli(['replay', url]);
    assert.is(all.code, 0, all.stderr);
    assert.not.match(all.stderr, /lost/, 'nothing lost with NATS up');
    const told = replayed(all.stdout);
    assert.is(told.size, PER_PROXY * proxies.length, 'replay tells every connection of the fleet, once');
    children.forEach((child, i) => {
      const lines = accessLines(child);
      assert.ok(lines.every((l) => l.conn!.startsWith(`${proxies[i]!.name}-`)), 'ids name their proxy');
      if (proxies[i]!.workers.length > 0) assert.is(new Set(lines.map((l) => l.conn!.replace(/-\d+$/, ''))).size, 2, 'both workers served');
      matchAccessLog(child, told, true);
    });
    const terms = new Set([...told.values()].map((t) => (t.exact ? t.term : '')));
    for (const term of ['CO', 'SO', 'cO', 'iO']) assert.ok(terms.has(term), `a ${term} connection in the mix: ${[...terms].join(' ')}`);

    const one = await runCli(['replay', url, '--instance', 'edge-b']);
    assert.is(one.code, 0, one.stderr);
    const own = replayed(one.stdout);
    assert.is(own.size, PER_PROXY);
    assert.ok([...own.keys()].every((id) => id.startsWith('edge-b-')), 'only edge-b');
  } finally {
    for (const child of children) await child.dispose();
    await closeServer(upstream);
    await nats.stop();
  }
});

/**
 * A connection that has had its echo and stays open, for traffic in flight across a crash: it
 * sends a byte every 100 ms (so --idle-timeout leaves it be); `finish` half-closes it and
 * resolves with what it sent and what came back.
 */
async function held(port: number, text: string): Promise<{ finish(): Promise<{ sent: string; got: string }> }> {
  const s = net.connect(port, '127.0.0.1');
  let got = '';
  let sent = text;
  s.on('data', (d: Buffer) => (got += d.toString()));
  const closed = new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('close', () => resolve());
  });
  s.write(text);
  await until(() => got === text, `the echo of ${text}`);
  const ping = setInterval(() => {
    s.write('.');
    sent += '.';
  }, 100);
  return {
    async finish() {
      clearInterval(ping);
      s.end('!');
      sent += '!';
      await closed;
      return { sent, got };
    },
  };
}

/** The `dropped` of every `sink_recovered` notice on a child's stderr. */
function recoveredDrops(child: Child): number[] {
  return child.stderrLines().flatMap((l) => {
    const m = /NATS acknowledges records again after \d+ ms; (\d+) records? dropped/.exec(l);
    return m === null ? [] : [Number(m[1])];
  });
}
/**
 * SIGUSR2, and the event-log drop counters of the status lines it prints (one per worker,
 * `processes` of them), summed: every record the proxy's sinks dropped so far.
 */
async function statusDrops(child: Child, processes: number): Promise<number> {
  const pattern = /^(?:worker \d+: )?status: .*log lines dropped: event log (\d+),/;
  const before = child.stderrLines().length;
  child.process.kill('SIGUSR2');
  const fresh = () => child.stderrLines().slice(before).flatMap((l) => pattern.exec(l)?.[1] ?? []);
  await until(() => fresh().length === processes, () => `${processes} status lines: ${child.stderr}`);
  return fresh().reduce((n, d) => n + Number(d), 0);
}
const failures = (child: Child) => child.stderrLines().filter((l) => l.includes('records wait in memory')).length;

/** The records replay says the writers lost (its stderr line), 0 when it says none. */
function lostOf(stderr: string): number {
  const m = /the writing proxy lost (\d+) records?/.exec(stderr);
  return m === null ? 0 : Number(m[1]);
}

peerTest('NATS killed mid-traffic and restarted: every round trip succeeds; each connection replays exactly or as incomplete, and the drops are what the gaps say', async () => {
  const nats = await startNats();
  const upstream = fleetUpstream();
  const upstreamPort = await listen(upstream);
  const children: Child[] = [];
  try {
    const url = `nats://${nats.url}/CRASH`;
    const base = ['--target', `127.0.0.1:${upstreamPort}`, '--idle-timeout', '300ms'];
    // roomy: the default spool outlasts the outage. tight: 8 records, far fewer than the outage's traffic writes.
    const roomy = await startForward([...base, '--instance', 'roomy', '--workers', '2', '--log', `${url}?instance=roomy`]);
    children.push(roomy.child);
    const tight = await startForward([...base, '--instance', 'tight', '--log', `${url}?instance=tight&spool=8`]);
    children.push(tight.child);
    const proxies = [roomy, tight];

    await Promise.all(proxies.map((p, i) => traffic(p.port, `before${i}`, 8)));
    const inFlight = await Promise.all(proxies.flatMap((p, i) => [0, 1, 2].map((j) => held(p.port, `held${i}-${j}`))));
    await nats.kill();
    await Promise.all(proxies.map((p, i) => traffic(p.port, `down${i}`, 12)));
    for (const h of inFlight) {
      const { sent, got } = await h.finish();
      assert.is(got, sent, 'a connection open across the crash is served to its end');
    }
    await until(() => failures(tight.child) === 1, () => `tight says the outage: ${tight.child.stderr}`, 10_000);
    await nats.restart();
    await until(() => recoveredDrops(tight.child).length === 1, () => `tight recovers: ${tight.child.stderr}`, 20_000);
    await until(() => recoveredDrops(roomy.child).length === failures(roomy.child), () => `roomy's workers recover: ${roomy.child.stderr}`, 20_000);
    await Promise.all(proxies.map((p, i) => traffic(p.port, `after${i}`, 4)));
    const total = 8 + 3 + 12 + 4;
    for (const { child } of proxies) await until(() => accessLines(child).length === total, () => `${total} access-log lines: ${child.stderr}`);

    assert.ok(recoveredDrops(tight.child)[0]! > 0, `an 8-record spool drops during the outage: ${tight.child.stderr}`);
    // Counted after the last connection closed: the spool may have dropped more while it drained.
    const tightDrops = await statusDrops(tight.child, 1);
    const roomyDrops = await statusDrops(roomy.child, 2);
    assert.ok(tightDrops >= recoveredDrops(tight.child)[0]!, 'the counter holds what the recovery notice said');

    for (const { child } of proxies) child.kill('SIGTERM');
    // A proxy whose log lost records exits 1 and says how many, by reason, once per process.
    for (const [child, drops] of [[roomy.child, roomyDrops], [tight.child, tightDrops]] as const) {
      assert.equal(await child.done(), { code: drops > 0 ? 1 : 0, signal: null }, child.stderr);
      const exitLosses = child.stderrLines().flatMap((l) => /JetStream sink: (\d+) records? lost \(/.exec(l)?.[1] ?? []);
      assert.is(exitLosses.reduce((n, d) => n + Number(d), 0), drops, `the exit line counts the drops: ${child.stderr}`);
    }
    assert.is(failures(tight.child), 1, 'the outage said once');

    const roomyReplay = await runCli(['replay', url, '--instance', 'roomy']);
    assert.is(roomyReplay.code, 0, roomyReplay.stderr);
    const roomyTold = replayed(roomyReplay.stdout);
    assert.is(roomyTold.size, total);
    matchAccessLog(roomy.child, roomyTold, false);
    assert.is(lostOf(roomyReplay.stderr), roomyDrops, `roomy's gaps account for its drops: ${roomyReplay.stderr}`);

    const tightReplay = await runCli(['replay', url, '--instance', 'tight']);
    assert.is(tightReplay.code, 0, tightReplay.stderr);
    const tightTold = replayed(tightReplay.stdout);
    const incomplete = matchAccessLog(tight.child, tightTold, false);
    assert.ok(incomplete > 0, 'the connections that lost records are marked incomplete');
    assert.is(lostOf(tightReplay.stderr), tightDrops, `tight's gaps account for its drops: ${tightReplay.stderr}`);
    const perConnection = [...tightReplay.stdout.matchAll(/: incomplete, (\d+) records? lost/g)].reduce((n, m) => n + Number(m[1]), 0);
    assert.ok(perConnection <= tightDrops, 'no connection claims more lost than was dropped');
  } finally {
    for (const child of children) await child.dispose();
    await closeServer(upstream);
    await nats.stop();
  }
});

test('?spool=N takes a whole number of records', async () => {
  for (const bad of ['0', '-1', 'x', '1.5']) {
    const r = await runCli(['forward', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:9', '--log', `nats://127.0.0.1:4222/S?spool=${bad}`]);
    assert.is(r.code, 2);
    assert.is(r.stderr.trim(), `proxy-lifecycle: --log: spool "${bad}" must be a whole number of records from 1 to 999999999`);
  }
});

test.run();
