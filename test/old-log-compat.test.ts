// A log written before connection ids were strings (numeric `conn`, no `seq`), as the
// proxy-lifecycle 0.1 demo wrote it (test/fixtures/log-v0.1-numeric-ids.jsonl, unedited):
// it still parses, replays to the endings its disposed records hold, and the CLI reads it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readEventLog, replay, timelineData } from '../src/index.js';
import { ROOT, ensureBuilt, runCli } from './helpers/cli-harness.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'log-v0.1-numeric-ids.jsonl');

ensureBuilt();

test('the fixture is an old log: numeric conn, no seq', () => {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.length > 50);
  assert.ok(lines.every((l) => typeof l.conn === 'number' && !('seq' in l)));
});

test('each numeric conn reads as its decimal string and replays to the ending its disposed record has', async () => {
  const records = await readEventLog(FIXTURE);
  assert.ok(records.every((r) => r.kind === 'refused' || typeof r.conn === 'string'));
  const { connections, incomplete } = replay(records);
  assert.equal(incomplete, []);
  assert.equal([...connections.keys()], ['1', '2', '3', '4', '5', '6']);
  for (const r of records) {
    if (r.kind !== 'disposed') continue;
    const c = connections.get(r.conn)!;
    assert.ok(c.done, `connection ${r.conn} replays to done`);
    assert.equal([c.incomplete, c.lost], [false, 0], `connection ${r.conn}: no seq is no hole`);
    assert.equal(c.output!.reasons, r.reasons, `connection ${r.conn}'s reasons`);
  }
  assert.equal(timelineData(records).rows.map((row) => row[0]), ['1', '2', '3', '4', '5', '6']);
});

test('replay on the command line reads it, --connection by its old number too', async () => {
  const all = await runCli(['replay', FIXTURE]);
  assert.is(all.code, 0, all.stderr);
  assert.equal([...all.stdout.matchAll(/^connection (\S+) from /gm)].map((m) => m[1]), ['1', '2', '3', '4', '5', '6']);
  assert.not.match(all.stdout, /incomplete|skipped|still open/);
  const four = await runCli(['replay', FIXTURE, '--connection', '4']);
  assert.is(four.code, 0, four.stderr);
  assert.match(four.stdout, /^connection 4 from /);
  assert.match(four.stdout, /closed after \d+ ms: term sO, client peer_closed, server reset/);
});

test.run();
