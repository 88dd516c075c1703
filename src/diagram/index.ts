/**
 * The connection machine as a picture, generated from the machine definition itself.
 */
import { toDot } from './dot.js';
import { toMermaid } from './mermaid.js';
import { readStatechart } from './statechart.js';

export { readStatechart, guardText, type Statechart, type ChartState, type ChartTransition } from './statechart.js';
export { toMermaid } from './mermaid.js';
export { toDot } from './dot.js';
export { DIAGRAM_START, DIAGRAM_END, diagramBlock, hasDiagramBlock, replaceDiagramBlock, readDiagramBlock } from './markdown.js';

/** The formats {@link machineDiagram} renders. */
export type DiagramFormat = 'mermaid' | 'dot';

/**
 * The connection machine's statechart as Mermaid (`stateDiagram-v2`) or Graphviz dot source:
 * every state node, every transition labelled `EVENT [guard]`, `after(delay) [guard]` or
 * `always [guard]`, read from `connectionMachine` itself.
 */
export function machineDiagram(format: DiagramFormat = 'mermaid'): string {
  const chart = readStatechart();
  if (format === 'mermaid') return toMermaid(chart);
  if (format === 'dot') return toDot(chart);
  throw new TypeError(`diagram format must be mermaid or dot, got ${String(format)}`);
}
