/**
 * What a connection asks of its sockets: keep-alive only when asked (with its delay), Nagle
 * off by default, and the client's address read once at open unless `clientAddress: false`.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock, type CloseInfo, type SupervisorOptions } from '../src/index.js';
import { startLoopback } from './helpers/loopback.js';
import { connect, readAll } from './helpers/sockets.js';

interface Calls {
  keepAlive: [boolean | undefined, number | undefined][];
  noDelay: (boolean | undefined)[];
  /** Calls made while the socket was still connecting (Node then makes the system call twice). */
  whileConnecting: number;
}

/** Proxies one echo through a supervisor with `options`, spying on both proxy-side sockets. */
async function oneEcho(options: SupervisorOptions): Promise<{ info: CloseInfo; client: Calls; server: Calls; localPort: number }> {
  const proxy = await startLoopback({ supervisor: { clock: systemClock, ...options }, upstream: (socket) => socket.pipe(socket) });
  const calls = { client: { keepAlive: [], noDelay: [], whileConnecting: 0 } as Calls, server: { keepAlive: [], noDelay: [], whileConnecting: 0 } as Calls };
  const spy = (socket: net.Socket, into: Calls) => {
    const keepAlive = socket.setKeepAlive.bind(socket);
    const noDelay = socket.setNoDelay.bind(socket);
    const connecting = () => (into.whileConnecting += socket.connecting ? 1 : 0);
    socket.setKeepAlive = (enable?: boolean, delay?: number) => (connecting(), into.keepAlive.push([enable, delay]), keepAlive(enable, delay));
    socket.setNoDelay = (on?: boolean) => (connecting(), into.noDelay.push(on), noDelay(on));
  };
  // Spy on the accepted socket before the proxy's own listener forwards it, and on the
  // upstream socket as the factory creates it.
  proxy.front.prependListener('connection', (socket: net.Socket) => spy(socket, calls.client));
  const realConnect = net.connect;
  const closed = new Promise<CloseInfo>((resolve) => proxy.supervisor.once('close', resolve));
  (net as { connect: typeof net.connect }).connect = ((...args: Parameters<typeof net.connect>) => {
    const socket = realConnect(...args);
    spy(socket, calls.server);
    return socket;
  }) as typeof net.connect;
  try {
    const client = await connect(proxy.proxyPort);
    const localPort = client.localPort!;
    const echoed = readAll(client);
    client.end('hello');
    assert.is((await echoed).toString(), 'hello');
    const info = await closed;
    client.destroy();
    return { info, ...calls, localPort };
  } finally {
    (net as { connect: typeof net.connect }).connect = realConnect;
    await proxy.close();
  }
}

test('by default: no keep-alive (as HAProxy, nginx and Node), Nagle off, the client address read', async () => {
  const { info, client, server, localPort } = await oneEcho({ logCapacity: 0 });
  assert.equal(client.keepAlive, [], 'no setKeepAlive on the client socket');
  assert.equal(server.keepAlive, [], 'no setKeepAlive on the upstream socket');
  assert.equal(client.noDelay, [true]);
  assert.equal(server.noDelay, [true]);
  assert.is(server.whileConnecting, 0, 'the upstream socket is set once connected, so Node sets it once');
  assert.is(info.client, `127.0.0.1:${localPort}`);
});

test('keepAlive: true turns it on for both sockets with keepAliveInitialDelay', async () => {
  const { client, server } = await oneEcho({ keepAlive: true, keepAliveInitialDelay: 15_000, logCapacity: 0 });
  assert.equal(client.keepAlive, [[true, 15_000]]);
  assert.equal(server.keepAlive, [[true, 15_000]]);
  assert.is(server.whileConnecting, 0);
});

test('noDelay: false leaves Nagle alone; clientAddress: false leaves CloseInfo.client and the open record without it', async () => {
  const { info, client, server } = await oneEcho({ noDelay: false, clientAddress: false, logCapacity: 100 });
  assert.equal(client.noDelay, []);
  assert.equal(server.noDelay, []);
  assert.is(info.client, undefined);
});

test.run();
