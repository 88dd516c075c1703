// Credentials out of messages: a URL's userinfo, and the known passwords and tokens, wherever they appear.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { redact, redactError, redactUrls, secretsOf } from '../src/log/redact-url.js';

test('redactUrls cuts the userinfo of every URL, and nothing else', () => {
  assert.is(redactUrls('at nats://alice:s3cr3t@10.0.0.1:4222/S and tls://tok@h:1'), 'at nats://10.0.0.1:4222/S and tls://h:1');
  assert.is(redactUrls('"nats://a:p%40ss@h:99999/S" is not a URL'), '"nats://h:99999/S" is not a URL');
  assert.is(redactUrls('nats://h:4222 mail me@host'), 'nats://h:4222 mail me@host');
});

test('secretsOf: URL passwords (as written and decoded), a lone user name (a token), pass and token options', () => {
  assert.equal(secretsOf(['nats://alice:p%40ss@h:1', 'bob@h:2', 'h:3'], { pass: 'pw12', token: 'tk34', user: 'carol' }).sort(), ['bob', 'p%40ss', 'p@ss', 'pw12', 'tk34'].sort());
});

test('redact replaces known secrets of 4 characters or more; redactError keeps an error that holds none', () => {
  assert.is(redact('refused pw12 for nats://u:pw12@h:1', ['pw12', 'e']), 'refused *** for nats://h:1');
  const clean = new Error('connection refused');
  assert.is(redactError(clean, ['pw12']), clean);
  const inner = Object.assign(new Error('auth pw12'), { code: 'EAUTH' });
  const outer = new Error('down', { cause: inner });
  const safe = redactError(outer, ['pw12']);
  assert.is.not(safe, outer);
  assert.is(safe.message, 'down');
  const cause = safe.cause as Error & { code?: string };
  assert.is(cause.message, 'auth ***');
  assert.is(cause.code, 'EAUTH');
});

test.run();
