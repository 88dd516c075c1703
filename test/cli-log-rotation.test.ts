// Log rotation through the real binary: SIGHUP (and SIGUSR1) reopen --log and --access-log at
// their paths without touching connections; SIGUSR2 prints a status line; none of them kills.
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEventLog, replay } from '../src/index.js';
import { counterOf, ensureBuilt, parseLogfmt, startForward, type Child } from './helpers/cli-harness.js';
import { readIfPresent } from './helpers/files.js';
import { closeServer, connect, echoServer, listen, roundTrip } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

const read = readIfPresent;
/** The connection ids in an access log file. */
const accessIds = (file: string) =>
  read(file)
    .split('\n')
    .filter((l) => l.startsWith('conn='))
    .map((l) => counterOf(parseLogfmt(l).conn!));
/** The ids of the connections disposed in an event log file. */
const disposedIds = (file: string) =>
  parseEventLog(read(file))
    .filter((r) => r.kind === 'disposed')
    .map((r) => counterOf(r.conn));

async function withProxy(args: string[], run: (child: Child, port: number) => Promise<void>): Promise<void> {
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  let child: Child | undefined;
  try {
    const started = await startForward(['--target', `127.0.0.1:${upstreamPort}`, '--shutdown-timeout', '200', ...args]);
    child = started.child;
    await run(child, started.port);
  } finally {
    await child?.dispose();
    await closeServer(upstream);
  }
}

for (const signal of ['SIGHUP', 'SIGUSR1'] as const) {
  test(`${signal} reopens --log and --access-log at their paths; a connection open across it carries on`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-rotate-'));
    const log = join(dir, 'events.jsonl');
    const access = join(dir, 'access.log');
    try {
      await withProxy(['--log', log, '--access-log', access], async (child, port) => {
        for (let i = 0; i < 3; i++) assert.is(await roundTrip(port, `before ${i}`), `before ${i}`);
        // Wait until the buffered writers have written the three, then rotate as logrotate does.
        await until(() => accessIds(access).length === 3 && disposedIds(log).length === 3, 'the first three connections on disk');
        const held = await connect(port);
        held.write('open across the rotation');
        await until(() => held.bytesRead === 24, 'the echo before the signal');
        renameSync(log, `${log}.1`);
        renameSync(access, `${access}.1`);
        child.kill(signal);
        await child.waitFor('stderr', new RegExp(`^${signal}: reopened ${log}, ${access}$`));
        held.write('!');
        await until(() => held.bytesRead === 25, 'the echo after the signal: the connection was not touched');
        for (let i = 0; i < 2; i++) assert.is(await roundTrip(port, `after ${i}`), `after ${i}`);
        held.end();
        await until(() => accessIds(access).length === 3, 'the later three connections in the new access log');
        child.kill('SIGTERM');
        const exit = await child.done();
        assert.is(exit.code, 0, child.stderr);
        assert.equal(accessIds(`${access}.1`), [1, 2, 3], 'the rotated access log keeps what came before');
        assert.equal(accessIds(access).sort(), [4, 5, 6]);
        assert.equal(disposedIds(`${log}.1`), [1, 2, 3]);
        assert.equal(disposedIds(log).sort(), [4, 5, 6]);
        // The new event log holds whole connections from their open record: it replays alone.
        const { connections } = replay(parseEventLog(read(log)));
        assert.equal([...connections.keys()].map(counterOf).sort(), [4, 5, 6]);
        for (const c of connections.values()) assert.ok(c.done, `connection ${c.id} complete in the new file`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('SIGUSR2 prints one status line and SIGHUP without log files is harmless: neither kills the proxy', async () => {
  await withProxy([], async (child, port) => {
    const held = await connect(port);
    held.write('x');
    await until(() => held.bytesRead === 1, 'the echo');
    assert.is(await roundTrip(port, 'one'), 'one');
    child.kill('SIGUSR2');
    const m = await child.waitFor('stderr', /^status: (\d+) connections open, (\d+) accepted, (\d+) refused; log lines dropped: event log 0, access log 0$/);
    assert.is(m[1], '1', 'the held connection');
    assert.is(m[2], '2');
    child.kill('SIGHUP');
    await child.waitFor('stderr', /^SIGHUP: no log file to reopen$/);
    held.write('y');
    await until(() => held.bytesRead === 2, 'still proxying');
    assert.ok(child.running);
    held.end();
    child.kill('SIGTERM');
    assert.is((await child.done()).code, 0, child.stderr);
  });
});

test.run();
