import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getStateNodes } from '@xstate/graph';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { and, not, or } from 'xstate';
import { INPUT_EVENT_TYPES, connectionMachine } from '../src/index.js';
import {
  DIAGRAM_END,
  DIAGRAM_START,
  diagramBlock,
  guardText,
  hasDiagramBlock,
  machineDiagram,
  readDiagramBlock,
  replaceDiagramBlock,
} from '../src/diagram/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const mermaid = machineDiagram('mermaid');
const dot = machineDiagram('dot');

/** Every state node of the machine, walked by @xstate/graph (not by the code under test). */
const NODES = getStateNodes(connectionMachine);
const mermaidId = (path: string[]) => (path.length === 0 ? 'connection' : path.join('_'));

/** The `src --> dst : label` lines of the Mermaid source, parsed. */
const EDGES = mermaid
  .split('\n')
  .map((l) => l.trim().match(/^(\S+) --> (\S+) : (.*)$/))
  .filter((m): m is RegExpMatchArray => m !== null)
  .map((m) => ({ from: m[1]!, to: m[2]!, labels: m[3]!.split('<br/>') }));

test('mermaid: every state node of the machine is declared, nested under its parent', () => {
  assert.ok(mermaid.startsWith('stateDiagram-v2\n'));
  for (const node of [connectionMachine.root, ...NODES]) {
    const id = mermaidId(node.path);
    assert.ok(mermaid.includes(`state "${node.key}" as ${id}\n`), `state ${node.id} declared`);
  }
  // Nesting follows the machine: each compound node opens a block inside its parent's block.
  const lines = mermaid.split('\n');
  for (const node of NODES.filter((n) => Object.keys(n.states).length > 0)) {
    const open = lines.findIndex((l) => l.trim() === `state ${mermaidId(node.path)} {`);
    assert.ok(open > 0, `${node.id} is a composite`);
    const depth = lines[open]!.search(/\S/);
    const parentOpen = lines.findIndex((l) => l.trim() === `state ${mermaidId(node.path.slice(0, -1))} {`);
    assert.ok(parentOpen >= 0 && parentOpen < open, `${node.id} inside its parent`);
    assert.is(depth, lines[parentOpen]!.search(/\S/) + 2, `${node.id} one level below its parent`);
  }
});

test('mermaid: parallel regions are separated by --, initial and final states are marked', () => {
  const parallel = [connectionMachine.root, ...NODES].filter((n) => n.type === 'parallel');
  const separators = parallel.reduce((sum, n) => sum + Object.keys(n.states).length - 1, 0);
  assert.is(separators, 2 + 5, 'client|server|watch and the six watch regions');
  assert.is(mermaid.split('\n').filter((l) => l.trim() === '--').length, separators);
  for (const node of NODES) {
    if (node.type === 'compound') {
      const initial = node.config.initial as string;
      assert.ok(mermaid.includes(`[*] --> ${mermaidId([...node.path, initial])}\n`), `initial of ${node.id}`);
    }
    if (node.type === 'final') assert.ok(mermaid.includes(`${mermaidId(node.path)} --> [*]\n`), `final ${node.id}`);
  }
});

test('mermaid: every transition of the machine is an edge labelled with its event, guard and delay', () => {
  let checked = 0;
  for (const node of NODES) {
    for (const [eventType, transitions] of node.transitions) {
      for (const t of transitions) {
        const targets = t.target ?? [node];
        for (const target of targets) {
          const edge = EDGES.find((e) => e.from === mermaidId(node.path) && e.to === mermaidId(target.path));
          assert.ok(edge, `edge ${node.id} -> ${target.id}`);
          const expected = eventType.startsWith('xstate.after.') ? `after(${eventType.split('.')[2]})` : eventType;
          assert.ok(
            edge!.labels.some((l) => l === expected || l.startsWith(`${expected} [`)),
            `${node.id} -> ${target.id} labelled ${expected}: ${edge!.labels.join(' | ')}`,
          );
          if (t.guard !== undefined) assert.ok(edge!.labels.some((l) => l.startsWith(`${expected} [`)), `guard shown on ${expected} at ${node.id}`);
          checked++;
        }
      }
    }
    for (const t of node.always ?? []) {
      for (const target of t.target ?? [node]) {
        const edge = EDGES.find((e) => e.from === mermaidId(node.path) && e.to === mermaidId(target.path));
        assert.ok(edge?.labels.some((l) => l.startsWith('always')), `always ${node.id} -> ${target.id}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} transitions`);
});

test('every event, guard and delay name of the machine appears in both formats', () => {
  const guardTexts = EDGES.flatMap((e) => e.labels).flatMap((l) => [...l.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!));
  const guardWords = new Set(guardTexts.flatMap((g) => g.match(/[A-Za-z]+/g) ?? []));
  const guards = Object.keys(connectionMachine.implementations.guards);
  const delays = Object.keys(connectionMachine.implementations.delays);
  assert.ok(guards.length >= 10 && delays.length === 8);
  for (const guard of guards) assert.ok(guardWords.has(guard), `guard ${guard} in a [guard] label`);
  for (const delay of delays) {
    assert.ok(mermaid.includes(`after(${delay})`), `mermaid delay ${delay}`);
    assert.ok(dot.includes(`after(${delay})`), `dot delay ${delay}`);
  }
  // Dot labels hold one transition a line (an escaped newline between them).
  const dotWords = new Set(
    [...dot.matchAll(/label="((?:[^"\\]|\\.)*)"/g)].flatMap((m) => m[1]!.split('\\n')).flatMap((l) => l.match(/[A-Za-z]+/g) ?? []),
  );
  const mermaidWords = new Set(EDGES.flatMap((e) => e.labels).flatMap((l) => l.match(/[A-Za-z]+/g) ?? []));
  for (const event of [...INPUT_EVENT_TYPES, 'EXPIRE']) {
    assert.ok(mermaidWords.has(event), `mermaid event ${event}`);
    assert.ok(dotWords.has(event), `dot event ${event}`);
  }
  for (const guard of guards) assert.ok(dotWords.has(guard), `dot guard ${guard}`);
});

test('guard combinators are read by what they are, not by their function name (a bundler renames it)', () => {
  const renamed = <T extends object>(g: T, name: string): T => Object.defineProperty(g, 'name', { value: name });
  const guard = renamed(and(['a', renamed(or(['b', renamed(not('c'), 'not3')]), 'or2')]), 'and2');
  assert.is(guardText(guard), 'a && (b || !c)');
  // A guard function of the machine's own is its name.
  assert.is(guardText(function flushed() {}), 'flushed');
});

test('dot: a well-formed digraph with a cluster per compound state and every edge between declared nodes', () => {
  assert.ok(dot.startsWith('digraph "connection" {\n') && dot.endsWith('}\n'));
  // Outside quoted strings, braces balance and never close more than they opened.
  const unquoted = dot.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  assert.not.ok(unquoted.includes('"""'), 'every quote closed');
  let depth = 0;
  for (const ch of unquoted) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    assert.ok(depth >= 0, 'braces balanced');
  }
  assert.is(depth, 0);
  const declared = new Set([...dot.matchAll(/^\s*("[^"]+") \[/gm)].map((m) => m[1]!));
  const edges = [...dot.matchAll(/^\s*("[^"]+") -> ("[^"]+")/gm)];
  assert.ok(edges.length > 50);
  for (const [, from, to] of edges) {
    assert.ok(declared.has(from!), `edge source ${from} declared`);
    assert.ok(declared.has(to!), `edge target ${to} declared`);
  }
  for (const node of NODES) {
    const atomic = Object.keys(node.states).length === 0;
    if (atomic) assert.ok(declared.has(`"${node.path.join('.')}"`), `node ${node.id}`);
    else assert.ok(dot.includes(`subgraph "cluster_${node.path.join('.')}" {`), `cluster ${node.id}`);
  }
  if (existsSync('/usr/bin/dot')) {
    const svg = execFileSync('/usr/bin/dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    assert.ok(svg.includes('<svg'), 'Graphviz renders it');
  } else {
    console.log('  (Graphviz not installed: dot output checked structurally only)');
  }
});

test('the generated diagram is deterministic and rejects unknown formats', () => {
  assert.is(machineDiagram('mermaid'), mermaid);
  assert.is(machineDiagram(), mermaid);
  assert.throws(() => machineDiagram('svg' as never), /mermaid or dot/);
});

test('markers: a stale block is replaced, text around it kept; no markers, no change', () => {
  const stale = `# Title\n\nbefore\n${DIAGRAM_START}\n\`\`\`mermaid\nstateDiagram-v2\n  old\n\`\`\`\n${DIAGRAM_END}\nafter\n`;
  const fresh = replaceDiagramBlock(stale);
  assert.is(readDiagramBlock(fresh), diagramBlock());
  assert.ok(fresh.startsWith(`# Title\n\nbefore\n${DIAGRAM_START}`) && fresh.endsWith(`${DIAGRAM_END}\nafter\n`));
  assert.is(replaceDiagramBlock(fresh), fresh, 'idempotent');
  assert.is(replaceDiagramBlock('no markers here'), 'no markers here');
  assert.is(readDiagramBlock('no markers here'), null);
  assert.throws(() => readDiagramBlock(`${DIAGRAM_START}\nunterminated`), /without/);
  // A marker mentioned in running text is not a block.
  const mention = `Put the diagram between \`${DIAGRAM_START}\` and \`${DIAGRAM_END}\`.\n`;
  assert.not.ok(hasDiagramBlock(mention));
  assert.is(replaceDiagramBlock(mention), mention);
  assert.ok(diagramBlock().includes('```mermaid\n' + mermaid + '```'));
});

test('every markdown file in the repo root and docs/ with the markers holds the current diagram', () => {
  const files = [
    ...readdirSync(ROOT).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, f)),
    ...(existsSync(join(ROOT, 'docs')) ? readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f)) : []),
  ];
  const withMarkers = files.filter((f) => hasDiagramBlock(readFileSync(f, 'utf8')));
  assert.ok(withMarkers.some((f) => f.endsWith(join('docs', 'diagram.md'))), 'docs/diagram.md holds the diagram');
  const block = diagramBlock();
  for (const file of withMarkers) {
    assert.ok(
      readDiagramBlock(readFileSync(file, 'utf8')) === block,
      `${file.slice(ROOT.length)} holds a stale diagram: run node --import tsx src/diagram/write-diagram.ts`,
    );
  }
});

test.run();
