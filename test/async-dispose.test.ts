/**
 * `await using supervisor = new Supervisor()`: leaving the scope shuts the supervisor down
 * gracefully (its connections end with reason `shutdown`), over real loopback sockets.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, type CloseInfo } from '../src/index.js';
import { closeServer, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

test('Symbol.asyncDispose is Node\'s own symbol, and the supervisor has it', () => {
  assert.is(Symbol.asyncDispose, Symbol.for('nodejs.asyncDispose'));
  assert.type(Supervisor.prototype[Symbol.asyncDispose], 'function');
});

test('leaving an `await using` scope shuts the supervisor down gracefully and waits for it', async () => {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const closes: CloseInfo[] = [];
  let escaped: Supervisor | undefined;
  let front: net.Server | undefined;
  const client = new net.Socket({ allowHalfOpen: true });
  try {
    {
      await using supervisor = new Supervisor();
      escaped = supervisor;
      supervisor.on('close', (info) => closes.push(info));
      front = net.createServer({ allowHalfOpen: true }, (socket) => {
        supervisor.forward(socket, () => net.connect(echoPort, '127.0.0.1'));
      });
      const port = await listen(front);
      client.connect({ port, host: '127.0.0.1' });
      client.on('error', () => {});
      // The client answers the proxy's FIN, so a graceful shutdown can finish.
      client.on('end', () => client.end());
      client.write('hello');
      let echoed = '';
      client.on('data', (d: Buffer) => (echoed += d.toString()));
      await until(() => echoed === 'hello', 'the echo');
      assert.is(supervisor.stats.active, 1);
      assert.not.ok(supervisor.closing);
    }
    // The scope awaited the shutdown: the connection is gone already.
    assert.ok(escaped!.closing, 'shut down on leaving the scope');
    assert.is(escaped!.stats.active, 0, 'disposal waited for every connection');
    assert.is(closes.length, 1);
    assert.equal(closes[0]!.reasons, { client: 'shutdown', server: 'shutdown' }, 'graceful, not aborted');
  } finally {
    client.destroy();
    if (front) await closeServer(front);
    await closeServer(echo);
  }
});

test.run();
