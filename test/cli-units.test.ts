// The CLI's pure parts, in process: argument parsing, access-log formatting, the follower
// that turns event-log records into timelines, and the demo's table.
import { availableParallelism } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SETTINGS, type CloseInfo, type LogRecord } from '../src/index.js';
import { accessLogEntry, formatJson, formatRefusalJson, formatRefusalText, formatText } from '../src/cli/access-log.js';
import { formatEndpoint, looksLikeHostPort, parseArgs, parseListen, parseTarget, type FlagSpec } from '../src/cli/args.js';
import { CliError } from '../src/cli/cli-error.js';
import { DURATION_FORMS, looksLikeDuration, parseDuration } from '../src/cli/duration.js';
import { renderTable } from '../src/cli/demo/table.js';
import { Follower, type FollowItem } from '../src/cli/follow.js';
import { parseForwardArgs } from '../src/cli/forward-args.js';
import { parseNatsTarget } from '../src/cli/nats-log.js';

const SPEC = { listen: 'string', quiet: 'boolean', help: 'boolean' } as const;

function throwsCli(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CliError);
    assert.is((err as CliError).message, message);
    assert.is((err as CliError).exitCode, 2);
    return;
  }
  assert.unreachable(`expected CliError: ${message}`);
}

test('parseArgs: --flag value, --flag=value, booleans, -h, positionals and --', () => {
  const a = parseArgs(['x', '--listen', '80', '--quiet', '-h', '--', '--not-a-flag'], SPEC, 'cmd');
  assert.equal([...a.flags], [['listen', '80'], ['quiet', true], ['help', true]]);
  assert.equal(a.positionals, ['x', '--not-a-flag']);
  assert.equal([...parseArgs(['--listen=127.0.0.1:80'], SPEC, 'cmd').flags], [['listen', '127.0.0.1:80']]);
  // A negative number is a value, not a flag.
  assert.equal([...parseArgs(['--listen', '-5'], SPEC, 'cmd').flags], [['listen', '-5']]);
  throwsCli(() => parseArgs(['--listen='], SPEC, 'cmd'), '--listen needs a value');
  throwsCli(() => parseArgs(['--listen', '--quiet'], SPEC, 'cmd'), '--listen needs a value');
  throwsCli(() => parseArgs(['--lisen', '1'], SPEC, 'cmd'), 'unknown flag --lisen for cmd (did you mean --listen?)');
  throwsCli(() => parseArgs(['--constructor'], SPEC, 'cmd'), 'unknown flag --constructor for cmd');
  throwsCli(() => parseArgs(['--quiet', '--quiet'], SPEC, 'cmd'), '--quiet is given more than once');
});

const OPTIONAL: FlagSpec = { ...SPEC, inspect: { optional: true, shape: looksLikeHostPort, describe: '[HOST:]PORT' } };
const flagsOf = (argv: string[]) => {
  const parsed = parseArgs(argv, OPTIONAL, 'cmd');
  return { flags: Object.fromEntries(parsed.flags), positionals: parsed.positionals };
};

test('parseArgs: a flag with an optional value takes the next token only when it has the value\'s shape', () => {
  assert.equal(flagsOf(['--inspect']), { flags: { inspect: true }, positionals: [] });
  assert.equal(flagsOf(['--inspect', '4242']), { flags: { inspect: '4242' }, positionals: [] });
  assert.equal(flagsOf(['--inspect=4242']), { flags: { inspect: '4242' }, positionals: [] });
  assert.equal(flagsOf(['--inspect', 'localhost:4242']), { flags: { inspect: 'localhost:4242' }, positionals: [] });
  assert.equal(flagsOf(['--inspect', '[::1]:4242']), { flags: { inspect: '[::1]:4242' }, positionals: [] });
  // The next flag, a word without a port or a dash token is not its value: it stands alone.
  assert.equal(flagsOf(['--inspect', '--quiet']), { flags: { inspect: true, quiet: true }, positionals: [] });
  throwsCli(() => parseArgs(['--inspect', '-1'], OPTIONAL, 'cmd'), 'unknown flag -1 for cmd');
  assert.equal(flagsOf(['--inspect', 'file.txt']), { flags: { inspect: true }, positionals: ['file.txt'] });
  assert.equal(flagsOf(['--inspect', '--', '80']), { flags: { inspect: true }, positionals: ['80'] });
  assert.equal(flagsOf(['--listen', '1', '--inspect']), { flags: { listen: '1', inspect: true }, positionals: [] });
  // Given with `=`, the value must have the shape: the error names the flag and what it takes.
  throwsCli(() => parseArgs(['--inspect=abc'], OPTIONAL, 'cmd'), '--inspect takes [HOST:]PORT or nothing, got "abc"');
  throwsCli(() => parseArgs(['--inspect='], OPTIONAL, 'cmd'), '--inspect takes [HOST:]PORT or nothing, got ""');
  throwsCli(() => parseArgs(['--inspect', '--inspect', '1'], OPTIONAL, 'cmd'), '--inspect is given more than once');
  throwsCli(() => parseArgs(['--inspekt'], OPTIONAL, 'cmd'), 'unknown flag --inspekt for cmd (did you mean --inspect?)');
  assert.equal(['80', 'h:80', 'a.b-c_d:1', '[::1]:80', '99999'].map(looksLikeHostPort), [true, true, true, true, true]);
  assert.equal(['', 'h', 'h:', ':80', '[::1]', 'h:80x', '-1', 'a b:1'].map(looksLikeHostPort), [false, false, false, false, false, false, false, false]);
});

test('parseForwardArgs: --inspect [[HOST:]PORT] and --inspect-every N', () => {
  const base = ['--listen', '1', '--target', 'h:2'];
  const inspectOf = (argv: string[]) => {
    const config = parseForwardArgs([...base, ...argv]);
    assert.ok(config !== 'help');
    return config.inspect;
  };
  const lo = '127.0.0.1';
  assert.is(inspectOf([]), undefined);
  assert.equal(inspectOf(['--inspect']), { host: lo, port: 0, every: 1 });
  assert.equal(inspectOf(['--inspect', '4242']), { host: lo, port: 4242, every: 1 });
  assert.equal(inspectOf(['--inspect=0', '--inspect-every', '100']), { host: lo, port: 0, every: 100 });
  assert.equal(inspectOf(['--inspect', '--inspect-every=3', '--quiet']), { host: lo, port: 0, every: 3 });
  assert.equal(inspectOf(['--inspect', '0.0.0.0:4242']), { host: '0.0.0.0', port: 4242, every: 1 });
  assert.equal(inspectOf(['--inspect=localhost:0']), { host: 'localhost', port: 0, every: 1 });
  assert.equal(inspectOf(['--inspect', '[::1]:4242', '--inspect-every', '3']), { host: '::1', port: 4242, every: 3 });
  throwsCli(() => parseForwardArgs([...base, '--inspect', '65536']), '--inspect: port must be a whole number from 0 to 65535, got "65536"');
  throwsCli(() => parseForwardArgs([...base, '--inspect=x']), '--inspect takes [HOST:]PORT or nothing, got "x"');
  throwsCli(() => parseForwardArgs([...base, '--inspect=h:65536']), '--inspect: port must be a whole number from 0 to 65535, got "65536"');
  throwsCli(() => parseForwardArgs([...base, '--inspect', 'x']), 'forward takes no positional arguments, got "x"');
  for (const bad of ['0', '-1', '1.5', 'two', '2147483648']) {
    throwsCli(() => parseForwardArgs([...base, '--inspect', '--inspect-every', bad]), `--inspect-every must be a whole number from 1 (every connection) to 2147483647, got ${JSON.stringify(bad)}`);
  }
  throwsCli(() => parseForwardArgs([...base, '--inspect-every', '2']), '--inspect-every needs --inspect');
});

test('parseListen / parseTarget: ports, hosts, IPv6 in brackets', () => {
  assert.equal(parseListen('8080'), { host: undefined, port: 8080 });
  assert.equal(parseListen('0'), { host: undefined, port: 0 });
  assert.equal(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.equal(parseListen('[::1]:443'), { host: '::1', port: 443 });
  assert.equal(parseTarget('db.internal:5432'), { host: 'db.internal', port: 5432 });
  assert.equal(parseTarget('[2001:db8::1]:80'), { host: '2001:db8::1', port: 80 });
  throwsCli(() => parseListen('65536'), '--listen: port must be a whole number from 0 to 65535, got "65536"');
  throwsCli(() => parseListen('[::1]'), '--listen: expected [HOST:]PORT (IPv6 as [::1]:PORT), got "[::1]"');
  throwsCli(() => parseTarget('db:'), '--target: port must be a whole number from 1 to 65535, got ""');
  assert.is(formatEndpoint('::1', 80), '[::1]:80');
  assert.is(formatEndpoint('127.0.0.1', 80), '127.0.0.1:80');
});

test('durations take units: ms, s, m, h, d, compounds largest first, fractions; a plain number is milliseconds', () => {
  const cases: [string, number][] = [
    ['250', 250], ['0', 0], ['1.5', 1.5], ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000],
    ['1h30m', 5_400_000], ['1m30s', 90_000], ['1.5s', 1500], ['1.1s', 1100], ['0.25h', 900_000], ['2d', 172_800_000],
    ['1h0m0s1ms', 3_600_001], ['24d20h31m23s647ms', 2 ** 31 - 1], ['2147483647', 2 ** 31 - 1],
  ];
  for (const [text, ms] of cases) assert.is(parseDuration(text, '--x'), ms, text);
});

test('a bad duration names the flag and the forms', () => {
  const message = (text: string) => `--grace-period must be ${DURATION_FORMS}, at most 2147483647 ms (about 24.8 days), got ${JSON.stringify(text)}`;
  // Sign, exponent, unknown or capital unit, spaces, a unit out of order or twice, no number, overflow.
  for (const bad of ['', '-1', '-5s', '+5', '1e3', 'NaN', 'Infinity', '5x', '5M', '5 s', '5sec', '1h 30m', '30m1h', '1s1s', 'ms', '.5s', '5.s', '1h30', '25d', '2147483648', `1.${'0'.repeat(400)}s`]) {
    throwsCli(() => parseDuration(bad, '--grace-period'), message(bad));
  }
  assert.match(DURATION_FORMS, /250ms, 30s, 5m, 1h, 1h30m/);
  // The shape of an optional duration value: anything starting with a digit is meant as one.
  assert.equal(['30s', '250', '1h30m', '5x'].map(looksLikeDuration), [true, true, true, true]);
  assert.equal(['', 's', '-1', 'file.txt', '5 s'].map(looksLikeDuration), [false, false, false, false, false]);
});

test('parseForwardArgs maps each flag onto its library option and nothing else', () => {
  const config = parseForwardArgs([
    '--listen', '9000', '--target', 'up:1',
    '--grace-period', '1', '--socket-timeout', '2', '--timeout-behavior', 'close', '--parity-timeout', '3',
    '--parity-inactivity', '4', '--connect-timeout', '5', '--idle-timeout', '6', '--max-lifetime', '7',
    '--no-half-open', '--keep-alive', '9', '--shutdown-timeout', '8', '--max-connections', '10', '--max-connections-per-ip', '11', '--log', 'x.jsonl', '--json', '--quiet', '--instance', 'web-1_a',
    '--accept-proxy', '11', '--send-proxy', 'v2', '--workers', '3',
  ]);
  assert.equal(config, {
    listen: { host: undefined, port: 9000 },
    target: { host: 'up', port: 1 },
    options: {
      gracePeriod: 1, socketTimeout: 2, parityTimeout: 3, parityInactivity: 4, connectTimeout: 5,
      idleTimeout: 6, maxLifetime: 7, timeoutBehavior: 'close', allowHalfOpen: false,
      keepAlive: true, keepAliveInitialDelay: 9,
    },
    shutdownTimeout: 8,
    maxConnections: 10,
    maxConnectionsPerIp: 11,
    logFile: 'x.jsonl',
    accessLogFile: undefined,
    metrics: undefined,
    inspect: undefined,
    workers: 3,
    json: true,
    quiet: true,
    instance: 'web-1_a',
    proxyProtocol: { acceptProxy: { timeout: 11 }, sendProxy: 'v2' },
  });
  for (const bad of ['web.1', 'a b', 'x'.repeat(33), 'a>b']) {
    throwsCli(() => parseForwardArgs(['--listen', '1', '--target', 'h:2', '--instance', bad]), `--instance must be 1 to 32 of the characters A-Z a-z 0-9 _ - (it is part of every connection id and a NATS subject token), got ${JSON.stringify(bad)}`);
  }
  const defaults = parseForwardArgs(['--listen', '1', '--target', 'h:2']);
  assert.ok(defaults !== 'help');
  assert.is(defaults.workers, 1, 'one process, no cluster, unless asked');
  const auto = parseForwardArgs(['--listen', '1', '--target', 'h:2', '--workers', 'auto']);
  assert.ok(auto !== 'help');
  assert.is(auto.workers, availableParallelism());
  assert.equal(defaults.options, {}, 'no flag, no option: the library defaults apply');
  assert.equal(defaults.proxyProtocol, {}, 'no PROXY protocol unless asked');
  assert.is(defaults.shutdownTimeout, 30_000);
  assert.is(defaults.maxConnections, undefined, 'no --max-connections: the descriptor budget decides');
  assert.is(defaults.maxConnectionsPerIp, undefined, 'no --max-connections-per-ip: no limit per address');
  for (const bad of ['0', '-1', '1.5', 'ten', '2147483648']) {
    throwsCli(() => parseForwardArgs(['--listen', '1', '--target', 'h:2', '--max-connections-per-ip', bad]), `--max-connections-per-ip must be a whole number from 1 to 2147483647, got ${JSON.stringify(bad)}`);
  }
  assert.is(parseForwardArgs(['--help']), 'help');
  // The access log: standard error by default and for '-', a file otherwise; --quiet has none.
  const accessTo = (args: string[]) => (parseForwardArgs(['--listen', '1', '--target', 'h:2', ...args]) as { accessLogFile?: string }).accessLogFile;
  assert.is(accessTo([]), undefined);
  assert.is(accessTo(['--access-log', '-']), undefined);
  assert.is(accessTo(['--access-log', 'access.log']), 'access.log');
  throwsCli(() => parseForwardArgs(['--listen', '1', '--target', 'h:2', '--quiet', '--access-log', 'a.log']), '--quiet turns the access log off; give --quiet or --access-log, not both');
  // --keep-alive alone keeps the library's delay; its value must be a duration.
  const alone = parseForwardArgs(['--listen', '1', '--keep-alive', '--target', 'h:2']);
  assert.ok(alone !== 'help');
  assert.equal(alone.options, { keepAlive: true });
  throwsCli(() => parseForwardArgs(['--listen', '1', '--target', 'h:2', '--keep-alive=soon']), `--keep-alive takes ${DURATION_FORMS} or nothing, got "soon"`);
  throwsCli(
    () => parseForwardArgs(['--listen', '1', '--target', 'h:2', '--keep-alive', '5x']),
    `--keep-alive must be ${DURATION_FORMS}, at most 2147483647 ms (about 24.8 days), got "5x"`,
  );
});

test('every duration flag of forward takes units, --keep-alive [DURATION] and --shutdown-timeout too', () => {
  const config = parseForwardArgs([
    '--listen', '9000', '--target', 'up:1',
    '--grace-period', '5s', '--socket-timeout', '1m30s', '--parity-timeout', '30m', '--parity-inactivity', '10m',
    '--connect-timeout', '250ms', '--idle-timeout', '1h', '--max-lifetime', '1.5d', '--keep-alive', '30s', '--shutdown-timeout=1h30m',
  ]);
  assert.ok(config !== 'help');
  assert.equal(config.options, {
    gracePeriod: 5000, socketTimeout: 90_000, parityTimeout: 1_800_000, parityInactivity: 600_000, connectTimeout: 250,
    idleTimeout: 3_600_000, maxLifetime: 129_600_000, keepAlive: true, keepAliveInitialDelay: 30_000,
  });
  assert.is(config.shutdownTimeout, 5_400_000);
  const keepAliveEq = parseForwardArgs(['--listen', '1', '--target', 'h:2', '--keep-alive=2m']);
  assert.ok(keepAliveEq !== 'help' && keepAliveEq.options.keepAliveInitialDelay === 120_000);
});

test('parseForwardArgs: the library validates each lifecycle flag, and its message names the flag', () => {
  const base = ['--listen', '1', '--target', 'h:2'];
  const bad = (flag: string, text: string) => `--${flag} must be ${DURATION_FORMS}, at most 2147483647 ms (about 24.8 days), got ${JSON.stringify(text)}`;
  for (const flag of ['grace-period', 'socket-timeout', 'idle-timeout', 'max-lifetime', 'parity-inactivity', 'parity-timeout', 'connect-timeout', 'shutdown-timeout']) {
    throwsCli(() => parseForwardArgs([...base, `--${flag}`, '-2']), bad(flag, '-2'));
    throwsCli(() => parseForwardArgs([...base, `--${flag}`, '25d']), bad(flag, '25d'));
  }
  // The syntax is the CLI's; a narrower range is the library's, and its message names the flag.
  for (const flag of ['parity-timeout', 'connect-timeout']) {
    throwsCli(() => parseForwardArgs([...base, `--${flag}`, '0s']), `--${flag} must be a number of milliseconds from 1 to 2147483647, got 0`);
  }
  throwsCli(() => parseForwardArgs([...base, '--timeout-behavior', 'RESET']), `--timeout-behavior must be one of 'reset', 'close', 'ignore', got "RESET"`);
  const ok = parseForwardArgs([...base, '--shutdown-timeout', '0']);
  assert.ok(ok !== 'help' && ok.shutdownTimeout === 0);
});

const info: CloseInfo = {
  id: 'web1-mf3k2a1b-7',
  client: '127.0.0.1:5000',
  reasons: { client: 'peer_closed', server: 'reset' },
  ending: { side: 'server', reason: 'reset', phase: 'half_closed' },
  code: 'sH',
  errors: { client: null, server: 'ECONNRESET' },
  bytes: { clientToServer: 10, serverToClient: 2000 },
  discarded: 3,
  pauses: { client: 0, server: 1 },
  durationMs: 12.6,
};

test('access log: logfmt text and JSON carry the same fields', () => {
  const entry = accessLogEntry(info);
  assert.is(
    formatText(entry),
    'conn=web1-mf3k2a1b-7 from=127.0.0.1:5000 term=sH duration_ms=13 c2s_bytes=10 s2c_bytes=2000 client_close=peer_closed server_close=reset server_error=ECONNRESET discarded_bytes=3',
  );
  const json = JSON.parse(formatJson(entry, new Date(0)));
  assert.equal(json, { time: '1970-01-01T00:00:00.000Z', ...entry });
  const quiet = accessLogEntry({ ...info, client: undefined, errors: { client: null, server: null }, discarded: 0, reasons: { client: 'fin', server: null }, code: 'CO' });
  assert.is(formatText(quiet), 'conn=web1-mf3k2a1b-7 from=- term=CO duration_ms=13 c2s_bytes=10 s2c_bytes=2000 client_close=fin server_close=-');
});

test('access log: a refusal is one line in the fields of a close (conn=-, term, client_close) plus its limit, text and JSON alike', () => {
  const refused = { t: 0, client: '127.0.0.2:5123', reason: 'rejected', limit: 'max_connections_per_ip', error: null, code: 'XA' } as const;
  assert.is(formatRefusalText(refused), 'conn=- from=127.0.0.2:5123 term=XA client_close=rejected limit=max_connections_per_ip');
  const header = { ...refused, client: null, reason: 'proxy_header_invalid', limit: 'accept_proxy', error: 'PROXY_HEADER_MALFORMED', code: 'hA' } as const;
  assert.is(formatRefusalText(header), 'conn=- from=- term=hA client_close=proxy_header_invalid limit=accept_proxy client_error=PROXY_HEADER_MALFORMED');
  assert.equal(JSON.parse(formatRefusalJson(refused, new Date(0))), {
    time: '1970-01-01T00:00:00.000Z', conn: null, from: '127.0.0.2:5123', term: 'XA', client_close: 'rejected', limit: 'max_connections_per_ip',
  });
  // A hook's own limit name is the caller's string: quoted as JSON, whatever it holds.
  const odd = { ...header, limit: 'say "no"' };
  assert.equal(JSON.parse(formatRefusalJson(odd, new Date(0))), {
    time: '1970-01-01T00:00:00.000Z', conn: null, from: '-', term: 'hA', client_close: 'proxy_header_invalid', limit: 'say "no"', client_error: 'PROXY_HEADER_MALFORMED',
  });
});

test('Follower: steps carry both sides before and after; socket timeouts counted; the close has reasons and code', () => {
  const settings = { ...DEFAULT_SETTINGS, socketTimeout: 100 };
  const ev = (t: number, event: Record<string, unknown>): LogRecord => ({ t, conn: 'web1-mf3k2a1b-1', kind: 'event', event: event as never });
  const records: LogRecord[] = [
    { t: 1000, conn: 'web1-mf3k2a1b-1', kind: 'open', settings, client: '10.0.0.1:1' },
    ev(1001, { type: 'CONNECTED' }),
    ev(1100, { type: 'xstate.after.socketTimeout.connection.watch.timeout.armed' }),
    ev(1200, { type: 'xstate.after.socketTimeout.connection.watch.timeout.armed' }),
    ev(1210, { type: 'END', side: 'client' }),
    ev(1211, { type: 'FINISHED', side: 'server' }),
    ev(1220, { type: 'ERROR', side: 'server', code: 'ECONNRESET' }),
    { t: 1230, conn: 'web1-mf3k2a1b-2', kind: 'event', event: { type: 'CONNECTED' } },
  ];
  const follower = new Follower();
  const items = records.map((r) => follower.observe(r)).filter((i): i is FollowItem => i !== undefined);
  assert.equal(items.map((i) => i.kind), ['open', 'step', 'step', 'step', 'step', 'step', 'step']);
  const steps = items.filter((i) => i.kind === 'step');
  assert.equal(steps.map((s) => [s.sinceOpen, s.label, s.before.client, s.after.client, s.after.server]), [
    [1, 'CONNECTED', 'open', 'open', 'open'],
    [100, 'timer socketTimeout (watch.timeout.armed)', 'open', 'open', 'open'],
    [200, 'timer socketTimeout (watch.timeout.armed)', 'open', 'open', 'open'],
    [210, 'END client', 'open', 'draining.readEnded', 'draining.flushing'],
    [211, 'FINISHED server', 'draining.readEnded', 'draining.readEnded', 'draining.writeEnded'],
    [220, 'ERROR server ECONNRESET', 'draining.readEnded', 'draining.flushing', 'closed'],
  ]);
  assert.equal([...follower.incomplete], ['web1-mf3k2a1b-2'], 'an event without its open record');
  const [pending] = follower.pending();
  assert.equal(pending, { conn: 'web1-mf3k2a1b-1', openedAt: 1000, client: '10.0.0.1:1', regions: { client: 'draining.flushing', server: 'closed' }, term: 'sH', incomplete: false, lost: 0 });
  follower.observe(ev(1225, { type: 'FINISHED', side: 'client' }));
  follower.observe(ev(1226, { type: 'CLOSE', side: 'client' }));
  const closed = follower.observe({ t: 1230, conn: 'web1-mf3k2a1b-1', kind: 'disposed', reasons: { client: 'peer_closed', server: 'reset' }, bytes: { clientToServer: 1, serverToClient: 2 }, durationMs: 230 });
  assert.ok(closed?.kind === 'closed');
  if (closed?.kind === 'closed') {
    assert.equal([closed.term, closed.reasons, closed.errors, closed.socketTimeouts, closed.durationMs, closed.incomplete], [
      'sH', { client: 'peer_closed', server: 'reset' }, { client: null, server: 'ECONNRESET' }, 2, 230, false,
    ]);
  }
  assert.equal(follower.pending(), []);
});

test('renderTable aligns columns and marks failures', () => {
  const text = renderTable([
    { scenario: 'a', expected: '1 B', delivered: '1 B', client: 'fin', server: 'peer_fin', term: 'CO', ok: true },
    { scenario: 'longer name', expected: '10 B', delivered: '0 B', client: '-', server: '-', term: '--', ok: false, note: 'why' },
  ]);
  assert.equal(text.split('\n'), [
    'scenario     expected  delivered  client close  server close  term  result',
    '-----------  --------  ---------  ------------  ------------  ----  ------',
    'a            1 B       1 B        fin           peer_fin      CO    ok',
    'longer name  10 B      0 B        -             -             --    FAIL  (why)',
  ]);
});

test('parseForwardArgs: --accept-proxy [DURATION] and --send-proxy v1|v2', () => {
  const base = ['--listen', '1', '--target', 'h:2'];
  const proxy = (...argv: string[]) => (parseForwardArgs([...base, ...argv]) as { proxyProtocol: unknown }).proxyProtocol;
  assert.equal(proxy('--accept-proxy'), { acceptProxy: true });
  assert.equal(proxy('--accept-proxy', '5s', '--send-proxy', 'v1'), { acceptProxy: { timeout: 5000 }, sendProxy: 'v1' });
  throwsCli(() => parseForwardArgs([...base, '--send-proxy', 'v3']), '--send-proxy must be v1 or v2, got "v3"');
  throwsCli(() => parseForwardArgs([...base, '--accept-proxy', '0']), `--accept-proxy's header timeout must be at least 1ms, got "0"`);
  throwsCli(() => parseForwardArgs([...base, '--accept-proxy=soon']), `--accept-proxy takes ${DURATION_FORMS} or nothing, got "soon"`);
});

test('parseNatsTarget: ?message-bytes sets the sink\'s message size (0: one record a message); a bad value or an unknown parameter is refused, named', () => {
  assert.is(parseNatsTarget('nats://h:1/S?message-bytes=0', '--log').messageBytes, 0);
  assert.is(parseNatsTarget('nats://h:1/S?instance=a&message-bytes=4096', '--log').messageBytes, 4096);
  assert.is(parseNatsTarget('nats://h:1/S', '--log').messageBytes, undefined);
  for (const bad of ['-1', '1.5', 'x', '99999999999']) {
    assert.throws(() => parseNatsTarget(`nats://h:1/S?message-bytes=${bad}`, '--log'), (e: Error) => /--log: message-bytes .* must be a whole number of bytes from 0/.test(e.message), bad);
  }
  assert.throws(() => parseNatsTarget('nats://u:secret@h:1/S?batch=0', '--log'), (e: Error) => /--log: unknown parameter "batch" .*expected instance, spool, message-bytes/.test(e.message) && !e.message.includes('secret'));
});

test('parseNatsTarget: credentials become nats.js options, decoded; the server and the shown URL carry none', () => {
  const t = parseNatsTarget('nats://alice:p%40ss%3Aw@nats.internal/FLEET?instance=edge-1', '--log');
  assert.is(t.server, 'nats://nats.internal:4222');
  assert.equal(t.auth, { user: 'alice', pass: 'p@ss:w' });
  assert.is(t.shown, 'nats://nats.internal:4222/FLEET');
  assert.ok(t.secrets.includes('p@ss:w') && t.secrets.includes('p%40ss%3Aw'));
  assert.equal(parseNatsTarget('nats://s3cr3t@h:1/S', '--log').auth, { token: 's3cr3t' });
  assert.equal(parseNatsTarget('nats://h:1/S', '--log').auth, {});
  throwsCli(() => parseNatsTarget('nats://alice:s3cr3t@h:99999/S', '--log'), '--log: "nats://h:99999/S" is not a URL; expected nats://HOST:PORT/STREAM (STREAM: letters, digits, _ and -)');
});

test.run();
