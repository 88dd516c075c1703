#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `npm run bench -- --profile`): the functions with the
// most self time, and with the most total (inclusive) time, with file:line.
//
//   node bench/profile-summary.mjs bench/results/profiles/proxy-lifecycle-short-r0/*.cpuprofile [top]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [top=30]');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

function key(node) {
  const f = node.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
  return `${f.functionName || '(anonymous)'}  ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
}

const self = new Map();
const total = new Map();
let all = 0;
for (const [id, us] of selfUs) {
  all += us;
  const node = byId.get(id);
  const k = key(node);
  self.set(k, (self.get(k) ?? 0) + us);
  // Inclusive: once per distinct function on the stack.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = key(byId.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    total.set(kk, (total.get(kk) ?? 0) + us);
  }
}

const show = (title, map) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((us / all) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
};
// Where the busy time goes, by origin: this project's code, each dependency, Node's own
// JavaScript, native code (syscalls, V8 builtins), the garbage collector. Idle is left out.
const origin = new Map();
let busy = 0;
for (const [id, us] of selfUs) {
  const f = byId.get(id).callFrame;
  const name = f.functionName;
  if (name === '(idle)') continue;
  busy += us;
  const url = f.url;
  const o = url.includes('node_modules/')
    ? `dependency ${url.split('node_modules/').pop().split('/')[0]}`
    : url.startsWith('node:')
      ? 'node (JavaScript)'
      : url === ''
        ? name.startsWith('(') && name !== '(anonymous)' ? name : 'native'
        : 'proxy-lifecycle';
  origin.set(o, (origin.get(o) ?? 0) + us);
}
console.log(`\nbusy time by origin (of ${(busy / 1000).toFixed(0)} ms busy)`);
for (const [k, us] of [...origin].sort((a, b) => b[1] - a[1])) console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
show('self time', self);
show('total time', total);
