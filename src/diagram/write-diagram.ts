/**
 * Refreshes the generated statechart in README.md and docs/diagram.md (between
 * `<!-- diagram:start -->` and `<!-- diagram:end -->`), from the machine definition.
 *
 *   node --import tsx src/diagram/write-diagram.ts
 *
 * docs/diagram.md is written whole; README.md is only updated if it has the markers.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIAGRAM_END, DIAGRAM_START, diagramBlock, hasDiagramBlock, replaceDiagramBlock } from './markdown.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const DIAGRAM_DOC = `# The connection machine

Generated from \`machines/connection-machine.ts\` by \`node --import tsx src/diagram/write-diagram.ts\`
(or \`proxy-lifecycle diagram\`); \`test/diagram.test.ts\` fails when this copy is stale.
Transitions read \`EVENT [guard]\`, \`after(delay) [guard]\` (a timer, with
the delay's name from the machine's \`delays\`) or \`always [guard]\` (an eventless rule); \`&&\`,
\`||\` and \`!\` combine guards, and a guard's parameter is in parentheses (\`isSelf(client)\`:
the event is about this side). Several transitions between the same two states share one
arrow, one per line. A self-loop is a transition that re-enters the state or only runs
actions. The regions of a parallel state are separated by dashed lines.

${DIAGRAM_START}${diagramBlock()}${DIAGRAM_END}

Graphviz: \`proxy-lifecycle diagram --format dot | dot -Tsvg > machine.svg\`, or
\`machineDiagram('dot')\` from the library.
`;

const docPath = `${root}docs/diagram.md`;
const doc = existsSync(docPath) ? replaceDiagramBlock(readFileSync(docPath, 'utf8')) : DIAGRAM_DOC;
writeFileSync(docPath, hasDiagramBlock(doc) ? doc : DIAGRAM_DOC);
console.log('updated docs/diagram.md');

const readmePath = `${root}README.md`;
const readme = readFileSync(readmePath, 'utf8');
if (hasDiagramBlock(readme)) {
  writeFileSync(readmePath, replaceDiagramBlock(readme));
  console.log('updated README.md');
} else {
  console.log(`README.md has no ${DIAGRAM_START} … ${DIAGRAM_END} markers: not changed`);
}
