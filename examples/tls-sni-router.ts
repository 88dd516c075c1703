// TLS passthrough routed by SNI. The router reads the server_name of the ClientHello
// without terminating TLS (it never holds a key), picks a backend, and hands both sockets
// to the supervisor; the client verifies the backend's own certificate end to end. Long-lived
// connections stay up through idle gaps longer than the socket timeout.
//
// Run: node --import tsx examples/tls-sni-router.ts
// It starts two TLS backends (alpha.test, beta.test) with throwaway certificates (openssl),
// the router, and clients; prints what happened; exits 0 when every check holds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Supervisor, type CloseInfo } from '../src/index.js';

/**
 * The SNI host name at the start of a TLS stream: `undefined` while the first record is
 * incomplete, `null` if the bytes are not a ClientHello or carry no server_name.
 */
function parseSni(buf: Buffer): string | null | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 0x16) return null; // not a handshake record
  const recordEnd = 5 + buf.readUInt16BE(3);
  if (buf.length < recordEnd) return undefined;
  try {
    let p = 5;
    if (buf[p] !== 0x01) return null; // not a ClientHello
    p += 4 + 2 + 32; // handshake header, client_version, random
    p += 1 + buf[p]!; // session_id
    p += 2 + buf.readUInt16BE(p); // cipher_suites
    p += 1 + buf[p]!; // compression_methods
    const extensionsEnd = Math.min(recordEnd, p + 2 + buf.readUInt16BE(p));
    p += 2;
    while (p + 4 <= extensionsEnd) {
      const type = buf.readUInt16BE(p);
      const length = buf.readUInt16BE(p + 2);
      p += 4;
      if (type === 0x0000) {
        // server_name: list length, then (name_type, length, name) entries
        for (let q = p + 2; q + 3 <= p + length; ) {
          const nameLength = buf.readUInt16BE(q + 1);
          if (buf[q] === 0) return buf.toString('ascii', q + 3, q + 3 + nameLength).toLowerCase();
          q += 3 + nameLength;
        }
        return null;
      }
      p += length;
    }
    return null;
  } catch {
    return null; // a truncated or malformed ClientHello
  }
}

/** A plain TCP server that routes each TLS connection by SNI, without decrypting anything. */
function sniRouter(supervisor: Supervisor, routes: ReadonlyMap<string, number>, onRefused: (sni: string | null) => void): net.Server {
  return net.createServer({ allowHalfOpen: true }, (client) => {
    let head = Buffer.alloc(0);
    const early = () => client.destroy();
    const deadline = setTimeout(early, 5_000); // a client must send its ClientHello promptly
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const sni = parseSni(head);
      if (sni === undefined && head.length < 5 + 16_384) return; // wait for the whole first record
      client.off('data', onData);
      client.off('error', early);
      clearTimeout(deadline);
      const port = sni ? routes.get(sni) : undefined;
      if (port === undefined) {
        onRefused(sni ?? null);
        client.destroy();
        return;
      }
      // Put the ClientHello back, so the backend reads the stream from its first byte.
      client.pause();
      client.unshift(head);
      supervisor.forward(client, () => net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
      client.resume();
    };
    client.on('data', onData);
    client.on('error', early);
  });
}

function certificate(dir: string, name: string): { key: Buffer; cert: Buffer } {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
  ], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)) };
}

/** A TLS backend that answers each line with `NAME: line`. */
function backend(name: string, creds: { key: Buffer; cert: Buffer }): tls.Server {
  return tls.createServer({ ...creds }, (socket) => {
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let pending = '';
    socket.on('data', (text: string) => {
      pending += text;
      for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
        socket.write(`${name}: ${pending.slice(0, nl)}\n`);
        pending = pending.slice(nl + 1);
      }
    });
  });
}

const listen = (server: net.Server) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects through the router with `servername`, verifying the certificate against `ca`. */
async function session(port: number, servername: string, ca: Buffer, messages: string[], gapMs: number): Promise<{ replies: string[]; subject: string }> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername, ca });
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (t: string) => (received += t));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const subject = String(socket.getPeerCertificate().subject.CN);
  for (const [i, message] of messages.entries()) {
    if (i > 0) await sleep(gapMs); // idle, longer than the router's socket timeout
    socket.write(message + '\n');
    while (received.split('\n').length <= i + 1) await sleep(5);
  }
  socket.end();
  await new Promise((resolve) => socket.once('close', resolve));
  return { replies: received.trim().split('\n'), subject };
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sni-example-'));
  const creds = { alpha: certificate(dir, 'alpha.test'), beta: certificate(dir, 'beta.test') };
  rmSync(dir, { recursive: true, force: true });
  const alpha = backend('alpha', creds.alpha);
  const beta = backend('beta', creds.beta);
  const routes = new Map([
    ['alpha.test', await listen(alpha)],
    ['beta.test', await listen(beta)],
  ]);

  const socketTimeout = 300;
  const supervisor = new Supervisor({ socketTimeout, timeoutBehavior: 'reset' });
  const timeouts = new Map<string, number>();
  supervisor.events$.subscribe((r) => {
    if (r.kind === 'event' && r.event.type.startsWith('xstate.after.socketTimeout.')) timeouts.set(r.conn, (timeouts.get(r.conn) ?? 0) + 1);
  });
  const closed: CloseInfo[] = [];
  supervisor.on('close', (info) => closed.push(info));
  const refused: (string | null)[] = [];
  const router = sniRouter(supervisor, routes, (sni) => refused.push(sni));
  const routerPort = await listen(router);
  console.log(`backends alpha.test :${routes.get('alpha.test')}, beta.test :${routes.get('beta.test')}; router :${routerPort} (socketTimeout ${socketTimeout} ms, reset)`);

  const checks: [string, boolean][] = [];
  const messages = ['one', 'two', 'three'];
  const [a, b] = await Promise.all([
    session(routerPort, 'alpha.test', creds.alpha.cert, messages, 700),
    session(routerPort, 'beta.test', creds.beta.cert, messages, 700),
  ]);
  for (const [name, result] of [['alpha', a], ['beta', b]] as const) {
    console.log(`${name}.test -> certificate CN=${result.subject}; replies: ${result.replies.join(' | ')}`);
    checks.push([`${name}.test reached ${name} (verified certificate)`, result.subject === `${name}.test`]);
    checks.push([`${name}.test got every reply from ${name}`, result.replies.join('|') === messages.map((m) => `${name}: ${m}`).join('|')]);
  }

  const gamma = tls.connect({ port: routerPort, host: '127.0.0.1', servername: 'gamma.test', rejectUnauthorized: false });
  const gammaError = await new Promise<string>((resolve) => {
    gamma.once('secureConnect', () => resolve('connected'));
    gamma.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  gamma.destroy();
  console.log(`gamma.test -> refused by the router (${gammaError})`);
  checks.push(['an unknown SNI is refused before any backend sees it', refused.includes('gamma.test') && gammaError !== 'connected']);

  while (supervisor.stats.active > 0) await sleep(5);
  for (const info of closed) {
    console.log(`#${info.id} ${info.client} ${info.code} client=${info.reasons.client} server=${info.reasons.server} c2s=${info.bytes.clientToServer} s2c=${info.bytes.serverToClient} survived ${timeouts.get(info.id) ?? 0} socket timeouts`);
  }
  checks.push(['both tunnels closed normally (client FIN first)', closed.length === 2 && closed.every((i) => i.code === 'CO')]);
  checks.push(['both tunnels survived idle gaps longer than the socket timeout', closed.every((i) => (timeouts.get(i.id) ?? 0) > 0)]);

  router.close();
  alpha.close();
  beta.close();
  for (const [what, ok] of checks) console.log(`check: ${what}: ${ok ? 'ok' : 'FAILED'}`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then((code) => process.exit(code));
