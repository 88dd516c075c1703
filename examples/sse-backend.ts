// A streaming (SSE) backend behind the proxy. One client reads the whole event stream, with
// gaps between events longer than the proxy's socket timeout (reset, so they survive); another
// leaves after two events, and the backend hears about it at once (it stops streaming), so
// nothing is left half-dead on either side.
//
// Run: node --import tsx examples/sse-backend.ts
// It starts the SSE backend, the proxy and two clients; prints what happened; exits 0 when
// every check holds.
import http from 'node:http';
import net from 'node:net';
import { Supervisor, type CloseInfo } from '../src/index.js';

const EVENTS = 8;
const EVERY_MS = 150;

/** `GET /events`: `EVENTS` server-sent events, one every `EVERY_MS`, then the end of the response. */
function sseBackend(onGone: (sent: number) => void): http.Server {
  return http.createServer((req, res) => {
    if (req.url !== '/events') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(`id: ${++sent}\ndata: tick ${sent}\n\n`);
      if (sent === EVENTS) {
        clearInterval(timer);
        res.end();
      }
    }, EVERY_MS);
    res.on('close', () => {
      if (sent < EVENTS) onGone(sent);
      clearInterval(timer);
    });
  });
}

/** Reads events from the proxy; `leaveAfter` destroys the request after that many. */
function subscribe(port: number, leaveAfter?: number): Promise<{ events: string[]; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const events: string[] = [];
    const req = http.get({ port, host: '127.0.0.1', path: '/events', agent: false }, (res) => {
      res.setEncoding('utf8');
      let buffered = '';
      res.on('data', (text: string) => {
        buffered += text;
        for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
          const data = /^data: (.*)$/m.exec(buffered.slice(0, end))?.[1];
          if (data !== undefined) events.push(data);
          buffered = buffered.slice(end + 2);
          if (events.length === leaveAfter) {
            req.destroy();
            return resolve({ events, complete: false });
          }
        }
      });
      res.on('end', () => resolve({ events, complete: true }));
    });
    req.on('error', (err) => (req.destroyed && leaveAfter !== undefined ? undefined : reject(err)));
  });
}

async function main(): Promise<number> {
  const gone: number[] = [];
  const backend = sseBackend((sent) => gone.push(sent));
  const backendPort = await new Promise<number>((r) => backend.listen(0, '127.0.0.1', () => r((backend.address() as net.AddressInfo).port)));

  const socketTimeout = 100;
  const supervisor = new Supervisor({ socketTimeout, timeoutBehavior: 'reset', gracePeriod: 1000 });
  const closed: CloseInfo[] = [];
  supervisor.on('close', (info) => closed.push(info));
  const timeouts = new Map<string, number>();
  supervisor.events$.subscribe((r) => {
    if (r.kind === 'event' && r.event.type.startsWith('xstate.after.socketTimeout.')) timeouts.set(r.conn, (timeouts.get(r.conn) ?? 0) + 1);
  });
  const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
    supervisor.forward(client, () => net.connect({ port: backendPort, host: '127.0.0.1', allowHalfOpen: true }));
  });
  const port = await new Promise<number>((r) => proxy.listen(0, '127.0.0.1', () => r((proxy.address() as net.AddressInfo).port)));
  console.log(`SSE backend :${backendPort} (${EVENTS} events, one every ${EVERY_MS} ms), proxy :${port} (socketTimeout ${socketTimeout} ms, reset)`);

  const [reader, leaver] = await Promise.all([subscribe(port), subscribe(port, 2)]);
  console.log(`reader: ${reader.events.length} events (${reader.events[0]} .. ${reader.events[reader.events.length - 1]}), stream ${reader.complete ? 'complete' : 'cut'}`);
  console.log(`leaver: left after ${leaver.events.length} events`);
  while (supervisor.stats.active > 0) await new Promise((r) => setTimeout(r, 5));
  console.log(`backend: saw a client leave after ${gone.join(', ')} events and stopped streaming to it`);
  for (const info of closed) {
    console.log(`#${info.id} ${info.client} ${info.code} client=${info.reasons.client} server=${info.reasons.server} c2s=${info.bytes.clientToServer} s2c=${info.bytes.serverToClient}; survived ${timeouts.get(info.id) ?? 0} socket timeouts`);
  }

  const full = closed.find((i) => i.bytes.serverToClient === Math.max(...closed.map((c) => c.bytes.serverToClient)));
  const checks: [string, boolean][] = [
    ['the reader got every event, across gaps longer than the socket timeout', reader.complete && reader.events.join() === Array.from({ length: EVENTS }, (_, i) => `tick ${i + 1}`).join() && (timeouts.get(full?.id ?? '') ?? 0) > 0],
    ['the backend ended the full stream (server FIN first)', full?.reasons.server === 'fin'],
    ['the leaver left after two events', leaver.events.length === 2 && !leaver.complete],
    ['the backend heard the leaver go and stopped its stream early', gone.length === 1 && gone[0]! < EVENTS],
    ['both connections were closed and disposed', closed.length === 2 && supervisor.stats.active === 0],
  ];
  proxy.close();
  backend.close();
  for (const [what, ok] of checks) console.log(`check: ${what}: ${ok ? 'ok' : 'FAILED'}`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then((code) => process.exit(code));
