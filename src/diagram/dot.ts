/**
 * A {@link Statechart} as a Graphviz `digraph`: every compound or parallel state is a cluster
 * (the regions of a parallel state dashed), each compound state has a point for its initial
 * state, final states are drawn with a double border.
 */
import { allStates, type ChartState, type Statechart } from './statechart.js';

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function nodeId(path: string[], rootId: string): string {
  return quote(path.length === 0 ? rootId : path.join('.'));
}

function initialId(path: string[], rootId: string): string {
  return quote(`${path.length === 0 ? rootId : path.join('.')}.__initial`);
}

function clusterId(path: string[], rootId: string): string {
  return quote(`cluster_${path.length === 0 ? rootId : path.join('.')}`);
}

/** Renders `chart` as Graphviz dot source, ending with a newline. */
export function toDot(chart: Statechart): string {
  const lines: string[] = [
    `digraph ${quote(chart.id)} {`,
    '  compound=true;',
    '  rankdir=TB;',
    '  fontname="Helvetica";',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const emit = (state: ChartState, depth: number, inParallel: boolean) => {
    const pad = '  '.repeat(depth);
    if (state.children.length === 0) {
      const attrs = [`label=${quote(state.key)}`];
      if (state.type === 'final') attrs.push('peripheries=2');
      lines.push(`${pad}${nodeId(state.path, chart.id)} [${attrs.join(', ')}];`);
      return;
    }
    lines.push(`${pad}subgraph ${clusterId(state.path, chart.id)} {`);
    lines.push(`${pad}  label=${quote(state.type === 'parallel' ? `${state.key} (parallel)` : state.key)};`);
    lines.push(`${pad}  style=${inParallel ? '"rounded,dashed"' : 'rounded'};`);
    if (state.initial !== undefined) {
      lines.push(`${pad}  ${initialId(state.path, chart.id)} [shape=point, width=0.12, label=""];`);
      lines.push(`${pad}  ${initialId(state.path, chart.id)} -> ${nodeId([...state.path, state.initial], chart.id)};`);
    }
    for (const child of state.children) emit(child, depth + 1, state.type === 'parallel');
    lines.push(`${pad}}`);
  };
  emit(chart.root, 1, false);
  // A compound state has no node of its own: an edge to or from it uses its initial point,
  // clipped at its cluster.
  const compound = new Set(allStates(chart.root).filter((s) => s.children.length > 0).map((s) => s.path.join('.')));
  const end = (path: string[], clip: 'ltail' | 'lhead') =>
    compound.has(path.join('.'))
      ? { id: initialId(path, chart.id), attr: [`${clip}=${clusterId(path, chart.id)}`] }
      : { id: nodeId(path, chart.id), attr: [] };
  // Transitions between the same two states share one edge, one label line each.
  const edges = new Map<string, { from: string[]; to: string[]; labels: string[]; targetless: boolean; always: boolean }>();
  for (const t of chart.transitions) {
    // The root's own transitions have no node; they apply in every state.
    if (t.source.length === 0) continue;
    const to = t.target ?? t.source;
    const key = `${t.source.join('.')}>${to.join('.')}`;
    const edge = edges.get(key) ?? { from: t.source, to, labels: [], targetless: true, always: true };
    edge.labels.push(t.label);
    edge.targetless &&= t.target === null;
    edge.always &&= t.kind === 'always';
    edges.set(key, edge);
  }
  for (const edge of edges.values()) {
    const from = end(edge.from, 'ltail');
    const to = end(edge.to, 'lhead');
    const label = `"${edge.labels.map((l) => quote(l).slice(1, -1)).join('\\n')}"`;
    const attrs = [`label=${label}`, ...from.attr, ...to.attr];
    if (edge.targetless) attrs.push('style=dashed');
    if (edge.always) attrs.push('color="#777777"');
    lines.push(`  ${from.id} -> ${to.id} [${attrs.join(', ')}];`);
  }
  const rootOnly = chart.transitions.filter((t) => t.source.length === 0).map((t) => t.label);
  if (rootOnly.length > 0) lines.push(`  label=${quote(`in every state: ${rootOnly.join(', ')}`)};`, '  labelloc=b;');
  lines.push('}');
  return lines.join('\n') + '\n';
}
