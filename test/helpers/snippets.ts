// The code snippets of README.md and docs/*.md, so a test can run each one as pasted.
//
// Every ```ts / ```js block is a snippet that must type-check and run to a clean exit.
// An HTML comment on the line just before the fence (invisible on GitHub) says otherwise:
//   <!-- snippet: serves PORT -->  a server: it must accept a connection on PORT, then exit 0
//                                  on SIGTERM (its own signal handler ends it)
//   <!-- snippet: skip WHY -->     not run and not type-checked (a fragment); say why
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** How a snippet is run. */
export type SnippetMode = { kind: 'run' } | { kind: 'serves'; port: number } | { kind: 'skip'; why: string };

export interface Snippet {
  /** Where it is, as `README.md:226` (the line of its opening fence). */
  where: string;
  lang: 'ts' | 'js';
  code: string;
  mode: SnippetMode;
}

const FENCE = /^```(ts|typescript|js|javascript)\s*$/;
const MARKER = /^<!--\s*snippet:\s*(.*?)\s*-->\s*$/;

function modeOf(marker: string | undefined, where: string): SnippetMode {
  if (marker === undefined) return { kind: 'run' };
  const serves = /^serves (\d+)$/.exec(marker);
  if (serves !== null) return { kind: 'serves', port: Number(serves[1]) };
  const skip = /^skip (.+)$/.exec(marker);
  if (skip !== null) return { kind: 'skip', why: skip[1]! };
  throw new Error(`${where}: unknown snippet marker "${marker}" (serves PORT, or skip WHY)`);
}

/** The ts/js snippets of one markdown text; `name` is how `where` names the file. */
export function snippetsOf(markdown: string, name: string): Snippet[] {
  const lines = markdown.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i]!);
    if (fence === null) continue;
    const where = `${name}:${i + 1}`;
    const end = lines.indexOf('```', i + 1);
    if (end === -1) throw new Error(`${where}: code block without a closing fence`);
    const marker = i > 0 ? MARKER.exec(lines[i - 1]!)?.[1] : undefined;
    out.push({ where, lang: fence[1]!.startsWith('t') ? 'ts' : 'js', code: lines.slice(i + 1, end).join('\n') + '\n', mode: modeOf(marker, where) });
    i = end;
  }
  return out;
}

/** Every snippet of README.md and docs/*.md under `root`, in file order. */
export function projectSnippets(root: string): Snippet[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  return files.flatMap((file) => snippetsOf(readFileSync(join(root, file), 'utf8'), file));
}

/**
 * Whether `code` awaits at its top level (so it can only be an ES module): an unindented,
 * uncommented line with an `await` (snippets indent what is inside functions).
 */
export function hasTopLevelAwait(code: string): boolean {
  return /^[^\s/].*\bawait\b/m.test(code);
}
