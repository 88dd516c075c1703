import type { Row } from './scenarios.js';

const COLUMNS: readonly [keyof Row, string][] = [
  ['scenario', 'scenario'],
  ['expected', 'expected'],
  ['delivered', 'delivered'],
  ['client', 'client close'],
  ['server', 'server close'],
  ['term', 'term'],
  ['ok', 'result'],
];

function cell(row: Row, key: keyof Row): string {
  if (key === 'ok') return row.ok ? 'ok' : 'FAIL';
  return String(row[key] ?? '');
}

/** Renders the summary as an aligned text table, notes after the result. */
export function renderTable(rows: readonly Row[]): string {
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((r) => cell(r, key).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(COLUMNS.map(([, title]) => title)), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of rows) {
    const cells = COLUMNS.map(([key]) => cell(row, key));
    if (row.note !== undefined) cells[cells.length - 1] += `  (${row.note})`;
    out.push(line(cells));
  }
  return out.join('\n');
}
