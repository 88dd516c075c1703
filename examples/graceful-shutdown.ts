// Graceful shutdown of a running proxy with connections in flight. On SIGTERM the proxy:
//   1. stops accepting at once (new connections are refused);
//   2. lets the connections in flight finish on their own, for up to DRAIN_MS;
//   3. then ends whatever is left with `supervisor.shutdown()`: a FIN to both sides after
//      their pending writes, and a hard close for what has not closed GRACE_MS later.
// (`supervisor.shutdown()` alone would skip step 2: it ends both sides at once, so a response
// still in flight from the upstream would be cut.)
//
// Run: node --import tsx examples/graceful-shutdown.ts
// It starts an upstream, the proxy, a download in flight and an idle connection, sends itself
// SIGTERM, prints what happened to each; exits 0 when every check holds.
import net from 'node:net';
import { Supervisor, type CloseInfo } from '../src/index.js';

const DRAIN_MS = 1500;
const GRACE_MS = 500;

/**
 * The upstream: `download` gets 12 KiB over 0.6 s, then a FIN; anything else gets silence
 * until it sends FIN, which is answered with FIN.
 */
function upstream(): net.Server {
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.once('data', (first: Buffer) => {
      socket.resume();
      if (!first.toString().startsWith('download')) return void socket.once('end', () => socket.end());
      let sent = 0;
      const timer = setInterval(() => {
        socket.write(Buffer.alloc(1024, 0x64));
        if (++sent === 12) {
          clearInterval(timer);
          socket.end();
        }
      }, 50);
      socket.on('close', () => clearInterval(timer));
    });
  });
}

/** Stop accepting, drain, then shut down what is left. Resolves when every connection is gone. */
async function gracefulStop(server: net.Server, supervisor: Supervisor): Promise<{ finished: number; shutDown: number }> {
  server.close();
  const inFlight = supervisor.stats.active;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, DRAIN_MS);
    supervisor.on('close', check);
    check();
    function check() {
      if (supervisor.stats.active === 0) done();
    }
    function done() {
      clearTimeout(timer);
      supervisor.off('close', check);
      resolve();
    }
  });
  const left = supervisor.stats.active;
  await supervisor.shutdown({ timeout: GRACE_MS });
  return { finished: inFlight - left, shutDown: left };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function client(port: number, first: string) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const state = { bytes: 0, ended: false, closed: false, socket };
  socket.on('data', (c: Buffer) => (state.bytes += c.length));
  socket.on('end', () => (state.ended = true));
  socket.on('close', () => (state.closed = true));
  socket.on('error', () => {});
  socket.write(first);
  return state;
}

async function main(): Promise<number> {
  const up = upstream();
  const upPort = await new Promise<number>((r) => up.listen(0, '127.0.0.1', () => r((up.address() as net.AddressInfo).port)));
  const supervisor = new Supervisor({ gracePeriod: 1000 });
  const closed: CloseInfo[] = [];
  supervisor.on('close', (info) => closed.push(info));
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    supervisor.forward(c, () => net.connect({ port: upPort, host: '127.0.0.1', allowHalfOpen: true }));
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  console.log(`upstream :${upPort}, proxy :${port} (drain ${DRAIN_MS} ms, then shutdown with ${GRACE_MS} ms grace)`);

  const stopped = new Promise<{ finished: number; shutDown: number }>((resolve) => {
    process.once('SIGTERM', () => {
      console.log(`SIGTERM: ${supervisor.stats.active} connections in flight; no longer accepting`);
      resolve(gracefulStop(server, supervisor));
    });
  });

  const download = client(port, 'download');
  const idle = client(port, 'hello');
  while (download.bytes === 0) await sleep(5); // the download is in flight
  process.kill(process.pid, 'SIGTERM');
  await sleep(20);
  const late = net.connect({ port, host: '127.0.0.1' });
  const lateResult = await new Promise<string>((resolve) => {
    late.once('connect', () => resolve('accepted'));
    late.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  late.destroy();
  console.log(`a new connection during the drain: ${lateResult}`);

  const result = await stopped;
  while (!download.closed || !idle.closed) await sleep(5);
  console.log(`stopped: ${result.finished} finished during the drain, ${result.shutDown} shut down after it`);
  for (const info of closed) {
    console.log(`#${info.id} ${info.client} ${info.code} client=${info.reasons.client} server=${info.reasons.server} s2c=${info.bytes.serverToClient} after ${Math.round(info.durationMs)} ms`);
  }
  const [first, second] = [closed.find((i) => i.id.endsWith('-1')), closed.find((i) => i.id.endsWith('-2'))];
  const checks: [string, boolean][] = [
    ['new connections were refused at once', lateResult === 'ECONNREFUSED'],
    ['the download in flight got every byte and a FIN', download.bytes === 12 * 1024 && download.ended],
    ['it finished on its own (the upstream closed first)', first?.code === 'SO' && result.finished === 1],
    ['the idle connection got a FIN from the shutdown, not a reset', idle.ended && second?.reasons.client === 'shutdown' && second.code === 'PO'],
    ['nothing is left', supervisor.stats.active === 0 && result.shutDown === 1],
  ];
  up.close();
  for (const [what, ok] of checks) console.log(`check: ${what}: ${ok ? 'ok' : 'FAILED'}`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then((code) => process.exit(code));
