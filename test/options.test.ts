/**
 * Option validation: resolveOptions, and the option checks of Supervisor and forward() that
 * must fail before any socket is touched.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SETTINGS, InvalidOptionError, Supervisor, forward, resolveOptions, type ConnectionSettings, type LifecycleOptions } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';

const MAX = 2 ** 31 - 1;

/** Runs `fn`, expects an InvalidOptionError, and returns it. */
function invalid(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, InvalidOptionError);
    assert.instance(err, TypeError, 'an InvalidOptionError is a TypeError');
    const e = err as InvalidOptionError;
    assert.is(e.code, 'PL_ERR_INVALID_OPTION');
    assert.is(e.name, 'InvalidOptionError');
    return e;
  }
  assert.unreachable('expected an InvalidOptionError');
  throw new Error('unreachable');
}

const asOptions = (o: Record<string, unknown>) => o as unknown as LifecycleOptions;

// --- defaults and aliases -------------------------------------------------------------

/**
 * The "Per-connection options" table of docs/options.md: option name to its documented default
 * (`0` (off) reads as 0, `'reset'` as the string). The defaults are checked against the docs,
 * not against a second copy here, so code and docs cannot drift apart.
 */
function documentedDefaults(): Record<string, unknown> {
  const docs = readFileSync(new URL('../docs/options.md', import.meta.url), 'utf8');
  const out: Record<string, unknown> = {};
  for (const line of docs.split('\n')) {
    const m = /^\| `(\w+)`[^|]*\| `([^`]+)`/.exec(line);
    if (m === null || m[1] in out) continue;
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith("'") ? raw.slice(1, -1) : JSON.parse(raw);
  }
  return out;
}

test('defaults: the values docs/options.md gives, for the machine settings and keepAlive, keepAliveInitialDelay, noDelay, clientAddress', () => {
  const documented = documentedDefaults();
  const r = resolveOptions();
  assert.equal(r.settings, { ...DEFAULT_SETTINGS });
  assert.equal(resolveOptions({}), r);
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof ConnectionSettings)[]) {
    assert.ok(key in documented, `docs/options.md documents ${key}`);
    assert.is(DEFAULT_SETTINGS[key], documented[key], `default ${key}`);
  }
  for (const key of ['keepAlive', 'keepAliveInitialDelay', 'noDelay', 'clientAddress'] as const) {
    assert.ok(key in documented, `docs/options.md documents ${key}`);
    assert.is(r[key], documented[key], `default ${key}`);
  }
});

test('every option is taken as given; undefined means default', () => {
  // Every machine setting with a value other than its default, then the binding's options.
  const settings: ConnectionSettings = {
    socketTimeout: 1,
    timeoutBehavior: 'close',
    allowHalfOpen: false,
    gracePeriod: 2,
    parityTimeout: 3,
    parityInactivity: 4,
    connectTimeout: 5,
    idleTimeout: 6,
    maxLifetime: MAX,
    firstByteTimeout: 7,
  };
  const input: LifecycleOptions = { ...settings, keepAlive: true, keepAliveInitialDelay: 0, noDelay: false, clientAddress: false };
  const r = resolveOptions(input);
  assert.equal(r.settings, settings);
  for (const key of Object.keys(settings) as (keyof ConnectionSettings)[]) assert.is.not(settings[key], DEFAULT_SETTINGS[key], `${key} differs from its default`);
  assert.equal([r.keepAlive, r.keepAliveInitialDelay, r.noDelay, r.clientAddress], [true, 0, false, false]);
  assert.is(resolveOptions({ gracePeriod: undefined }).settings.gracePeriod, 5000);
});

test('resolveOptions does not mutate DEFAULT_SETTINGS or the base it extends', () => {
  const base = resolveOptions({ gracePeriod: 10 });
  const derived = resolveOptions({ idleTimeout: 20, noDelay: false }, base);
  assert.is(derived.settings.gracePeriod, 10, 'base values are kept');
  assert.is(derived.settings.idleTimeout, 20);
  assert.is(derived.noDelay, false);
  assert.is(base.settings.idleTimeout, 0, 'base untouched');
  assert.is(base.noDelay, true, 'base untouched');
  assert.is(DEFAULT_SETTINGS.gracePeriod, 5000);
  assert.is.not(derived.settings, base.settings);
});

test('aliases map to the canonical names', () => {
  const r = resolveOptions({ socketCleanupGracePeriod: 1234, allowHalfOpenConnections: false, parityCheckTimeout: 99 });
  assert.is(r.settings.gracePeriod, 1234);
  assert.is(r.settings.allowHalfOpen, false);
  assert.is(r.settings.parityTimeout, 99);
  const keys = Object.keys(r.settings);
  for (const alias of ['socketCleanupGracePeriod', 'allowHalfOpenConnections', 'parityCheckTimeout']) {
    assert.not.ok(keys.includes(alias), `${alias} is not copied into settings`);
    assert.not.ok(alias in r, `${alias} is not copied onto the result`);
  }
});

test('alias and canonical name with the same value are fine', () => {
  const r = resolveOptions({ gracePeriod: 7, socketCleanupGracePeriod: 7, allowHalfOpen: true, allowHalfOpenConnections: true });
  assert.is(r.settings.gracePeriod, 7);
  assert.is(r.settings.allowHalfOpen, true);
});

test('alias and canonical name with different values throw, in either order', () => {
  const a = invalid(() => resolveOptions({ gracePeriod: 1, socketCleanupGracePeriod: 2 }));
  assert.is(a.option, 'socketCleanupGracePeriod');
  assert.match(a.message, 'socketCleanupGracePeriod');
  assert.match(a.message, 'gracePeriod');
  const b = invalid(() => resolveOptions({ parityCheckTimeout: 2, parityTimeout: 1 }));
  assert.is(b.option, 'parityTimeout');
  assert.match(b.message, 'parityCheckTimeout');
  const c = invalid(() => resolveOptions({ allowHalfOpen: true, allowHalfOpenConnections: false }));
  assert.is(c.option, 'allowHalfOpenConnections');
});

// --- bad values --------------------------------------------------------------------------

const DURATIONS = ['socketTimeout', 'gracePeriod', 'parityInactivity', 'idleTimeout', 'maxLifetime', 'firstByteTimeout', 'keepAliveInitialDelay', 'socketCleanupGracePeriod'];
const POSITIVE = ['parityTimeout', 'connectTimeout', 'parityCheckTimeout'];
const BAD_NUMBERS: unknown[] = [-1, -0.5, NaN, Infinity, -Infinity, MAX + 1, 1e12, '100', null, true, {}, [5], 10n];

for (const key of [...DURATIONS, ...POSITIVE]) {
  test(`${key}: bad values throw an InvalidOptionError naming ${key} and the allowed range`, () => {
    for (const value of BAD_NUMBERS) {
      const e = invalid(() => resolveOptions(asOptions({ [key]: value })));
      assert.is(e.option, key, `option for ${String(value)}`);
      assert.match(e.message, key);
      assert.match(e.message, String(MAX), `range in message for ${String(value)}`);
      assert.match(e.message, POSITIVE.includes(key) ? 'from 1 to' : 'from 0 (off) to');
    }
    // The boundaries themselves are accepted.
    const min = POSITIVE.includes(key) ? 1 : 0;
    resolveOptions(asOptions({ [key]: min }));
    resolveOptions(asOptions({ [key]: MAX }));
    if (min === 1) assert.is(invalid(() => resolveOptions(asOptions({ [key]: 0 }))).option, key, `${key} must be at least 1`);
  });
}

test('the message shows the bad value', () => {
  assert.match(invalid(() => resolveOptions({ gracePeriod: -5 })).message, 'got -5');
  assert.match(invalid(() => resolveOptions(asOptions({ gracePeriod: 'soon' }))).message, 'got "soon"');
  assert.match(invalid(() => resolveOptions(asOptions({ gracePeriod: {} }))).message, 'got object');
  assert.match(invalid(() => resolveOptions({ gracePeriod: NaN })).message, 'got NaN');
});

for (const key of ['allowHalfOpen', 'allowHalfOpenConnections', 'keepAlive', 'noDelay', 'clientAddress']) {
  test(`${key}: non-booleans throw naming ${key}`, () => {
    for (const value of [1, 0, 'true', null, {}]) {
      const e = invalid(() => resolveOptions(asOptions({ [key]: value })));
      assert.is(e.option, key);
      assert.match(e.message, key);
      assert.match(e.message, 'true or false');
    }
  });
}

test("unknown timeoutBehavior throws naming 'reset', 'close', 'ignore'", () => {
  for (const value of ['destroy', 'RESET', '', 1, null]) {
    const e = invalid(() => resolveOptions(asOptions({ timeoutBehavior: value })));
    assert.is(e.option, 'timeoutBehavior');
    assert.match(e.message, 'timeoutBehavior');
    for (const allowed of ["'reset'", "'close'", "'ignore'"]) assert.match(e.message, allowed);
  }
  for (const ok of ['reset', 'close', 'ignore'] as const) {
    assert.is(resolveOptions({ timeoutBehavior: ok }).settings.timeoutBehavior, ok);
  }
});

test('an unknown key throws naming it and listing the allowed options', () => {
  const e = invalid(() => resolveOptions(asOptions({ gracePeriodMs: 5 })));
  assert.is(e.option, 'gracePeriodMs');
  assert.match(e.message, 'unknown option gracePeriodMs');
  assert.match(e.message, 'gracePeriod');
  assert.match(e.message, 'socketCleanupGracePeriod');
  assert.not.match(e.message, 'did you mean');
});

test('a commonly guessed key gets a hint: timeout -> socketTimeout, and the others', () => {
  const hints: Record<string, string> = {
    timeout: 'socketTimeout',
    halfOpen: 'allowHalfOpen',
    graceTimeout: 'gracePeriod',
    connectionTimeout: 'connectTimeout',
    keepAliveTimeout: 'idleTimeout',
  };
  for (const [key, hint] of Object.entries(hints)) {
    const e = invalid(() => resolveOptions(asOptions({ [key]: 1000 })));
    assert.is(e.option, key);
    assert.match(e.message, `did you mean ${hint}?`);
  }
});

test('unknown keys are rejected even with undefined-looking values, but undefined itself is skipped', () => {
  invalid(() => resolveOptions(asOptions({ bogus: null })));
  assert.equal(resolveOptions(asOptions({ bogus: undefined })), resolveOptions());
});

test('keys named like Object.prototype members are plainly unknown, with no bogus hint', () => {
  for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
    const e = invalid(() => resolveOptions(asOptions({ [key]: 1 })));
    assert.is(e.option, key);
    assert.match(e.message, `unknown option ${key}`);
    assert.not.match(e.message, 'did you mean');
  }
  const e = invalid(() => resolveOptions(JSON.parse('{"__proto__": 1}') as LifecycleOptions));
  assert.is(e.option, '__proto__');
  assert.not.match(e.message, 'did you mean');
});

test('non-object options throw naming options', () => {
  for (const value of [null, 5, 'gracePeriod', true]) {
    const e = invalid(() => resolveOptions(value as unknown as LifecycleOptions));
    assert.is(e.option, 'options');
    assert.match(e.message, 'options must be an object');
  }
});

// --- Supervisor ---------------------------------------------------------------------------

test('Supervisor rejects a bad activitySampleInterval, and accepts 0 (off)', () => {
  for (const value of [-1, -Infinity, NaN, Infinity, '1000']) {
    const e = invalid(() => new Supervisor({ activitySampleInterval: value as number }));
    assert.is(e.option, 'activitySampleInterval');
    assert.match(e.message, 'activitySampleInterval');
  }
  const ok = new Supervisor({ activitySampleInterval: 0 });
  assert.equal(ok.stats, { active: 0, total: 0, closed: 0, refused: 0 });
});

test('Supervisor validates its lifecycle options, with environment fields set aside', () => {
  const e = invalid(() => new Supervisor({ gracePeriod: -1 }));
  assert.is(e.option, 'gracePeriod');
  const hint = invalid(() => new Supervisor(asOptions({ timeout: 1 })));
  assert.match(hint.message, 'socketTimeout');
  // clock, log, runtime, logger, logCapacity are not lifecycle options and do not throw.
  new Supervisor({ clock: undefined, log: undefined, logger: undefined, logCapacity: 10 });
});

test('forward() and Supervisor reject the same bad environment options, naming each', () => {
  const bad: [string, unknown][] = [
    ['clock', { now: () => 0 }],
    ['clock', 7],
    ['log', []],
    ['runtime', 'table'],
    ['logger', { warn: 'loud' }],
    ['logger', null],
  ];
  for (const [option, value] of bad) {
    const client = new net.Socket();
    const upstream = new net.Socket();
    try {
      for (const make of [() => new Supervisor({ [option]: value }), () => forward(client, upstream, { [option]: value })]) {
        const e = invalid(make);
        assert.is(e.option, option, `${option} = ${String(value)}`);
        assert.match(e.message, `${option} must be`);
      }
      assert.is(boundListenerCount(client) + boundListenerCount(upstream), 0, 'forward() touched no socket');
    } finally {
      client.destroy();
      upstream.destroy();
    }
  }
  // A logger may leave any of its methods out.
  new Supervisor({ logger: { warn: () => {} } });
});

test('supervisor.shutdown rejects a bad timeout, and a later valid shutdown still works', async () => {
  const supervisor = new Supervisor();
  for (const timeout of [-1, NaN, Infinity, '10' as unknown as number]) {
    const e = invalid(() => supervisor.shutdown({ timeout }));
    assert.is(e.option, 'timeout');
    assert.match(e.message, 'timeout');
  }
  assert.is(supervisor.closing, false, 'a rejected shutdown does not start shutting down');
  await supervisor.shutdown({ timeout: 0 });
  assert.is(supervisor.closing, true);
});

// --- forward() ------------------------------------------------------------------------------

function listenerSnapshot(socket: net.Socket): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of socket.eventNames()) out[String(name)] = socket.listenerCount(name);
  return out;
}

test('forward() throws for bad options before touching either socket', () => {
  const client = new net.Socket();
  const upstream = new net.Socket();
  const beforeClient = listenerSnapshot(client);
  const beforeUpstream = listenerSnapshot(upstream);
  try {
    for (const options of [{ gracePeriod: -1 }, asOptions({ timeout: 5 }), asOptions({ timeoutBehavior: 'nope' })]) {
      invalid(() => forward(client, upstream, options));
      assert.equal(listenerSnapshot(client), beforeClient, 'no listener added to the client');
      assert.equal(listenerSnapshot(upstream), beforeUpstream, 'no listener added to the upstream');
      assert.is(boundListenerCount(client), 0);
      assert.is(boundListenerCount(upstream), 0);
      assert.is(client.destroyed, false);
      assert.is(upstream.destroyed, false);
      assert.is(client.isPaused(), false, 'the client is not paused');
    }
  } finally {
    client.destroy();
    upstream.destroy();
  }
});

test('forward() with a bad option never calls the upstream factory', () => {
  const client = new net.Socket();
  let called = 0;
  try {
    invalid(() =>
      forward(
        client,
        () => {
          called++;
          return new net.Socket();
        },
        { idleTimeout: -3 },
      ),
    );
    assert.is(called, 0);
    assert.is(boundListenerCount(client), 0);
  } finally {
    client.destroy();
  }
});

test('supervisor.forward() throws for a bad override before touching sockets, and counts nothing', () => {
  const supervisor = new Supervisor();
  const client = new net.Socket();
  const upstream = new net.Socket();
  const before = listenerSnapshot(client);
  try {
    const e = invalid(() => supervisor.forward(client, upstream, { maxLifetime: -1 }));
    assert.is(e.option, 'maxLifetime');
    assert.equal(listenerSnapshot(client), before);
    assert.is(boundListenerCount(client), 0);
    assert.is(boundListenerCount(upstream), 0);
    assert.equal(supervisor.stats, { active: 0, total: 0, closed: 0, refused: 0 });
    assert.is(supervisor.log.records().length, 0, 'nothing logged');
  } finally {
    client.destroy();
    upstream.destroy();
  }
});

test.run();
