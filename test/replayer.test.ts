/**
 * The incremental Replayer, fed live from `supervisor.events$` over real loopback sockets:
 * at every moment it stands where the live connections stand, and at the end it agrees
 * with `replay()` over the whole log (which runs the same Replayer).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replay } from '../src/index.js';
import { Replayer, type ReplayChange } from '../src/log/replayer.js';
import { startLoopback } from './helpers/loopback.js';
import { until } from './helpers/wait.js';

test('fed live, the replayer tracks each connection as it goes, and ends where replay() of the whole log ends', async () => {
  const rig = await startLoopback({
    supervisor: { activitySampleInterval: 100 },
    upstream: (socket) => {
      socket.on('data', (d: Buffer) => socket.write(d));
      socket.on('end', () => socket.end());
    },
  });
  const replayer = new Replayer();
  const changes: ReplayChange['kind'][] = [];
  const sub = rig.supervisor.events$.subscribe((record) => {
    const change = replayer.apply(record);
    assert.ok(change, `record ${record.kind} of ${record.conn} applied`);
    changes.push(change!.kind);
  });
  try {
    const { c: got, conn } = await rig.connect();
    const client = got.socket;
    client.write('abc');
    await until(() => got.received === 3, 'the echo');
    rig.clock.advance(100);
    const [live] = [...replayer.pending()];
    assert.is(live!.id, conn.id);
    assert.equal(live!.value, conn.state, 'mid-connection: the live state');
    assert.equal(live!.context, conn.context, 'mid-connection: the live context, bytes included');
    assert.equal(live!.bytes, { clientToServer: 3, serverToClient: 3 });

    client.end();
    await until(() => conn.disposed, 'the connection disposed');
    assert.equal([...replayer.pending()], [], 'nothing pending once disposed');
    assert.is(changes[0], 'open');
    assert.is(changes[changes.length - 1], 'disposed');
    assert.ok(changes.slice(1, -1).every((k) => k === 'event'));

    const whole = replay(rig.supervisor.log.records()).connections.get(conn.id)!;
    assert.equal(whole.value, conn.state);
    assert.equal(whole.context, conn.context);
    assert.ok(whole.done);
    assert.is(replayer.apply({ t: 1, conn: conn.id, kind: 'event', event: { type: 'ABORT' } }), undefined, 'a record after disposal has no connection');
  } finally {
    sub.unsubscribe();
    await rig.close();
  }
});

test.run();
