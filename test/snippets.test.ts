import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/cli-harness.js';
import { hasTopLevelAwait, projectSnippets, snippetsOf } from './helpers/snippets.js';

const doc = [
  '# Title',
  '```sh',
  'npm test',
  '```',
  '<!-- snippet: serves 6432 -->',
  '```ts',
  "import net from 'node:net';",
  '```',
  '<!-- snippet: skip a fragment of the one above -->',
  '```js',
  'server.close();',
  '```',
  '```typescript',
  'const x = await f();',
  '```',
].join('\n');

test('snippetsOf finds the ts and js blocks with their line and marker, and leaves other languages out', () => {
  const found = snippetsOf(doc, 'X.md');
  assert.equal(
    found.map((s) => [s.where, s.lang, s.mode]),
    [
      ['X.md:6', 'ts', { kind: 'serves', port: 6432 }],
      ['X.md:10', 'js', { kind: 'skip', why: 'a fragment of the one above' }],
      ['X.md:13', 'ts', { kind: 'run' }],
    ],
  );
  assert.is(found[0]!.code, "import net from 'node:net';\n");
});

test('snippetsOf rejects an unknown marker and an unclosed block, naming where', () => {
  assert.throws(() => snippetsOf('<!-- snippet: maybe -->\n```ts\nx\n```', 'Y.md'), /Y\.md:2: unknown snippet marker "maybe"/);
  assert.throws(() => snippetsOf('```ts\nx', 'Z.md'), /Z\.md:1: code block without a closing fence/);
});

test('hasTopLevelAwait: an unindented await, not one inside a function or a comment', () => {
  assert.ok(hasTopLevelAwait('const a = await f();\n'));
  assert.ok(hasTopLevelAwait('const { x } = g(await f());\n'));
  assert.not.ok(hasTopLevelAwait('async function main() {\n  await f();\n}\n'));
  assert.not.ok(hasTopLevelAwait('// await nothing\nf();\n'));
});

test('README.md and docs/ have snippets to run, each marker valid', () => {
  const all = projectSnippets(ROOT).filter((s) => s.mode.kind !== 'skip');
  assert.ok(all.some((s) => s.where.startsWith('README.md')) && all.some((s) => s.where.startsWith('docs/')), 'snippets in both');
});

test.run();
