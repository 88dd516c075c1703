/**
 * A {@link Statechart} as a Mermaid `stateDiagram-v2`: compound states nest, the regions of a
 * parallel state are separated by `--`, and each transition is drawn in the innermost state
 * that contains both of its ends.
 */
import { commonScope, type ChartState, type ChartTransition, type Statechart } from './statechart.js';

/** Mermaid ids are global: a state's id is its path, joined with `_`. */
function id(path: string[], rootId: string): string {
  return path.length === 0 ? rootId : path.join('_');
}

/** Mermaid reads `;`, `:`, `#` and braces in labels as syntax; the chart's labels use none but be safe. */
function label(text: string): string {
  return text.replace(/[;:#{}]/g, ' ');
}

/** Transitions grouped by scope, then by source and target (one edge per pair, labels joined). */
function edgesByScope(chart: Statechart): Map<string, { from: string[]; to: string[]; labels: string[] }[]> {
  const scopes = new Map<string, { from: string[]; to: string[]; labels: string[] }[]>();
  const byPair = new Map<string, { from: string[]; to: string[]; labels: string[] }>();
  for (const t of chart.transitions) {
    // The root's own transitions have no box to hang on; the renderer lists them in a comment.
    if (t.source.length === 0) continue;
    const to = t.target ?? t.source;
    const pair = `${t.source.join('.')}>${to.join('.')}`;
    const existing = byPair.get(pair);
    if (existing !== undefined) {
      existing.labels.push(t.label);
      continue;
    }
    const edge = { from: t.source, to, labels: [t.label] };
    byPair.set(pair, edge);
    const scope = commonScope(t.source, to).join('.');
    const list = scopes.get(scope) ?? [];
    list.push(edge);
    scopes.set(scope, list);
  }
  return scopes;
}

function rootComments(transitions: ChartTransition[]): string[] {
  return transitions
    .filter((t) => t.source.length === 0)
    .map((t) => `%% every state: ${t.label}${t.target === null ? ' (no state change)' : ''}`);
}

function edgeLine(edge: { from: string[]; to: string[]; labels: string[] }, rootId: string): string {
  return `${id(edge.from, rootId)} --> ${id(edge.to, rootId)} : ${label(edge.labels.join('<br/>'))}`;
}

/** Renders `chart` as Mermaid `stateDiagram-v2` source, ending with a newline. */
export function toMermaid(chart: Statechart): string {
  const scopes = edgesByScope(chart);
  const lines: string[] = ['stateDiagram-v2', ...rootComments(chart.transitions).map((c) => `  ${c}`)];
  const placed = new Set<string>();
  const emit = (state: ChartState, depth: number) => {
    const pad = '  '.repeat(depth);
    const sid = id(state.path, chart.id);
    lines.push(`${pad}state "${state.key}" as ${sid}`);
    if (state.children.length === 0) return;
    lines.push(`${pad}state ${sid} {`);
    const inner = '  '.repeat(depth + 1);
    if (state.type === 'parallel') {
      state.children.forEach((child, i) => {
        if (i > 0) lines.push(`${inner}--`);
        emit(child, depth + 1);
      });
    } else {
      if (state.initial !== undefined) lines.push(`${inner}[*] --> ${id([...state.path, state.initial], chart.id)}`);
      // Edges before the children: Mermaid puts a state in the composite that mentions it
      // last, so a nested composite declared after an edge into it keeps its states.
      placed.add(state.path.join('.'));
      for (const edge of scopes.get(state.path.join('.')) ?? []) lines.push(inner + edgeLine(edge, chart.id));
      for (const child of state.children) emit(child, depth + 1);
      for (const child of state.children) {
        if (child.type === 'final') lines.push(`${inner}${id(child.path, chart.id)} --> [*]`);
      }
    }
    lines.push(`${pad}}`);
  };
  emit(chart.root, 1);
  // Edges whose scope is a parallel state (between its regions) are drawn at the top level.
  for (const [scope, edges] of scopes) {
    if (!placed.has(scope)) for (const edge of edges) lines.push('  ' + edgeLine(edge, chart.id));
  }
  return lines.join('\n') + '\n';
}
