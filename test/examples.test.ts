// Every example in examples/ runs with one command (`node --import tsx examples/<name>.ts`),
// checks itself against real loopback sockets, and exits 0 only when every check holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Child } from './helpers/cli-harness.js';

async function runExample(name: string): Promise<{ code: number | null; lines: string[]; checks: Map<string, string> }> {
  const child = new Child(process.execPath, ['--import', 'tsx', `examples/${name}.ts`]);
  try {
    const exit = await child.done(30_000);
    assert.is(child.stderr, '', `${name}: nothing on stderr`);
    const lines = child.stdoutLines();
    const checks = new Map<string, string>();
    for (const line of lines) {
      const m = /^check: (.*): (ok|FAILED)$/.exec(line);
      if (m !== null) checks.set(m[1]!, m[2]!);
    }
    assert.is(exit.code, 0, `${name} exit code; output:\n${child.stdout}`);
    for (const [what, result] of checks) assert.is(result, 'ok', `${name}: ${what}`);
    return { code: exit.code, lines, checks };
  } finally {
    await child.dispose();
  }
}

test('tls-sni-router: TLS passthrough by SNI reaches the right backend, refuses unknown names, survives idle gaps', async () => {
  const { lines, checks } = await runExample('tls-sni-router');
  assert.is(checks.size, 7);
  assert.ok(lines.includes('alpha.test -> certificate CN=alpha.test; replies: alpha: one | alpha: two | alpha: three'), lines.join('\n'));
  assert.ok(lines.includes('beta.test -> certificate CN=beta.test; replies: beta: one | beta: two | beta: three'), lines.join('\n'));
  const tunnels = lines.filter((l) => /^#[A-Za-z0-9_-]+-\d+ /.test(l));
  assert.is(tunnels.length, 2);
  for (const t of tunnels) assert.match(t, /^#[A-Za-z0-9_-]+-\d+ 127\.0\.0\.1:\d+ CO client=fin server=peer_fin c2s=\d+ s2c=\d+ survived [1-9]\d* socket timeouts$/);
});

test('websocket-gateway: upgrade sockets handed to the supervisor carry a real WebSocket session to its close handshake', async () => {
  const { lines, checks } = await runExample('websocket-gateway');
  assert.is(checks.size, 5);
  assert.ok(lines.some((l) => l.startsWith('/ws/chat -> HTTP/1.1 101 Switching Protocols; accept key valid; replies: HELLO | STILL THERE? | BYE; close frame answered, FIN received')), lines.join('\n'));
  assert.ok(lines.includes('/elsewhere -> HTTP/1.1 404 Not Found'));
  assert.ok(lines.some((l) => /^#[A-Za-z0-9_-]+-1 127\.0\.0\.1:\d+ SO client=peer_fin server=fin /.test(l)), lines.join('\n'));
});

test('sse-backend: a stream behind the proxy is delivered whole, and a client leaving stops the backend', async () => {
  const { lines, checks } = await runExample('sse-backend');
  assert.is(checks.size, 5);
  assert.ok(lines.includes('reader: 8 events (tick 1 .. tick 8), stream complete'), lines.join('\n'));
  assert.ok(lines.includes('leaver: left after 2 events'));
  assert.ok(lines.includes('backend: saw a client leave after 2 events and stopped streaming to it'));
});

test('graceful-shutdown: on SIGTERM the download in flight finishes, new connections are refused, the idle one gets a FIN', async () => {
  const { lines, checks } = await runExample('graceful-shutdown');
  assert.is(checks.size, 5);
  assert.ok(lines.includes('a new connection during the drain: ECONNREFUSED'));
  assert.ok(lines.includes('stopped: 1 finished during the drain, 1 shut down after it'));
  assert.ok(lines.some((l) => /^#[A-Za-z0-9_-]+-1 127\.0\.0\.1:\d+ SO client=peer_fin server=fin s2c=12288 /.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^#[A-Za-z0-9_-]+-2 127\.0\.0\.1:\d+ PO client=shutdown server=shutdown s2c=0 /.test(l)), lines.join('\n'));
});

test.run();
