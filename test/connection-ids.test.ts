// Connection ids: `<instance>-<boot>-<counter>`, unique across hosts, restarts and workers,
// and valid NATS subject tokens.
import net from 'node:net';
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionIds, InvalidOptionError, ManualClock, Supervisor, bootId, defaultInstance, forward, isConnectionId } from '../src/index.js';

/** NATS: a subject token is non-empty and holds no `.`, `*`, `>` or whitespace. */
const NATS_TOKEN = /^[^.*>\s]+$/;

test('ids are instance-boot-counter, the counter from 1, one prefix per supervisor', () => {
  const ids = new ConnectionIds({ instance: 'web1', boot: 'mf3k2a1b' });
  assert.equal([ids.next(), ids.next(), ids.next()], ['web1-mf3k2a1b-1', 'web1-mf3k2a1b-2', 'web1-mf3k2a1b-3']);
  assert.is(ids.count, 3);
  assert.is(ids.prefix, 'web1-mf3k2a1b-');
  // A cluster primary hands each worker its own boot.
  const worker = new ConnectionIds({ instance: 'web1', boot: 'mf3k2a1bw3' });
  assert.is(worker.next(), 'web1-mf3k2a1bw3-1');
});

test('the default instance is the host name\'s first label, sanitised; the default boot the start time in base 36', () => {
  assert.is(defaultInstance('web1.example.com'), 'web1');
  assert.is(defaultInstance('my host*>x'), 'my_host__x');
  assert.is(defaultInstance('a'.repeat(40)), 'a'.repeat(32));
  assert.is(defaultInstance(''), 'host');
  const ids = new ConnectionIds();
  assert.is(ids.instance, defaultInstance(hostname()));
  assert.match(ids.instance, /^[A-Za-z0-9_-]{1,32}$/);
  // Later than any boot made so far (each default boot is after the last one of the process).
  const t = Date.now() + 3_600_000;
  const at = new ConnectionIds({ instance: 'x' }, t);
  assert.ok(parseInt(at.boot, 36) >= t, `boot ${at.boot} is the start time or just after`);
  assert.ok(parseInt(at.boot, 36) < t + 1000);
});

test('two default boots of one process differ, even within one millisecond', () => {
  const t = Date.now() + 60_000;
  const a = bootId(t);
  const b = bootId(t);
  assert.is.not(a, b);
  const boots = new Set(Array.from({ length: 50 }, () => new ConnectionIds({ instance: 'x' }).boot));
  assert.is(boots.size, 50, 'fifty supervisors, fifty boots');
});

test('a bad instance or boot is an InvalidOptionError naming the field and the allowed characters', () => {
  for (const instance of ['', 'a.b', 'a*', 'a>', 'a b', 'x'.repeat(33), 7, null]) {
    const err = (() => {
      try {
        new ConnectionIds({ instance: instance as string });
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.instance(err, InvalidOptionError, `instance ${String(instance)}`);
    assert.is((err as InvalidOptionError).option, 'instance');
    assert.match((err as Error).message, /^instance must be 1 to 32 of the characters A-Z a-z 0-9 _ -/);
  }
  for (const boot of ['', 'a-b', 'a.b', 'x'.repeat(33)]) {
    assert.throws(() => new ConnectionIds({ boot }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'boot' && /^boot must be 1 to 32 of the characters A-Z a-z 0-9 _ \(no -/.test(e.message));
  }
  assert.throws(() => new Supervisor({ instance: 'web.1' }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'instance');
});

test('every id is a NATS subject token and splits from the right into instance, boot and counter', () => {
  const ids = new ConnectionIds({ instance: 'eu-west_1', boot: 'mf3k2a1bw0' });
  for (let i = 0; i < 5; i++) {
    const id = ids.next();
    assert.match(id, NATS_TOKEN);
    assert.ok(isConnectionId(id));
    const [counter, boot, ...instance] = id.split('-').reverse();
    assert.equal([instance.reverse().join('-'), boot, Number(counter)], ['eu-west_1', 'mf3k2a1bw0', i + 1]);
  }
  assert.not.ok(isConnectionId('a.b'));
  assert.not.ok(isConnectionId(''));
  assert.not.ok(isConnectionId(3));
});

test('a supervisor names its connections with its instance and boot, in the log, CloseInfo and its map', async () => {
  const server = net.createServer({ allowHalfOpen: true }, (s) => s.on('data', () => {}).on('end', () => s.end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const supervisor = new Supervisor({ instance: 'test1', boot: 'b0', clock: new ManualClock(0), activitySampleInterval: 0 });
  assert.equal([supervisor.instance, supervisor.boot], ['test1', 'b0']);
  const closes: string[] = [];
  supervisor.on('close', (info) => closes.push(info.id));
  try {
    const [a, b] = [new net.Socket(), new net.Socket()];
    const first = supervisor.forward(a, () => net.connect(port, '127.0.0.1'));
    const second = supervisor.forward(b, () => net.connect(port, '127.0.0.1'));
    assert.equal([first.id, second.id], ['test1-b0-1', 'test1-b0-2']);
    assert.equal([...supervisor.connections.keys()].sort(), ['test1-b0-1', 'test1-b0-2'].filter((id) => supervisor.connections.has(id)));
    a.destroy();
    b.destroy();
    await Promise.all([first.whenClosed(), second.whenClosed()]);
    assert.equal(closes.sort(), ['test1-b0-1', 'test1-b0-2']);
    const conns = new Set(supervisor.log.records().flatMap((r) => (r.kind === 'refused' ? [] : [r.conn])));
    assert.equal([...conns].sort(), ['test1-b0-1', 'test1-b0-2']);
  } finally {
    await supervisor.shutdown({ timeout: 0 });
    await new Promise((r) => server.close(r));
  }
});

test('forward() outside a supervisor gives ids of one process-wide default prefix too', () => {
  const a = forward(new net.Socket(), () => new net.Socket());
  const b = forward(new net.Socket(), () => new net.Socket());
  a.abort();
  b.abort();
  assert.match(a.id, /^[A-Za-z0-9_-]+-[0-9a-z]+-\d+$/);
  assert.is(b.id.slice(0, b.id.lastIndexOf('-')), a.id.slice(0, a.id.lastIndexOf('-')));
  assert.is.not(a.id, b.id);
});

test('inspect.select is asked with the id of the connection being created', () => {
  const asked: string[] = [];
  const supervisor = new Supervisor({ instance: 'sel', boot: 'b1', inspect: { observer: () => {}, select: (id) => (asked.push(id), false) } });
  const c = supervisor.forward(new net.Socket(), () => new net.Socket());
  c.abort();
  assert.equal(asked, ['sel-b1-1']);
  assert.is(c.id, 'sel-b1-1');
});

test.run();
