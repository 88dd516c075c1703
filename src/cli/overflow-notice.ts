import type { OverflowReport } from '../index.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The descriptor limit and what is open, for the reader deciding what to raise. */
function limits(report: OverflowReport): string {
  const parts: string[] = [];
  if (report.budget !== null) parts.push(`limit ${report.budget.limit}, 2 per connection`);
  parts.push(`${plural(report.active, 'connection')} open`);
  return parts.join('; ');
}

/**
 * The line `forward` prints for an {@link OverflowReport}, e.g. `refused 290 connections in the
 * last 1 s: out of file descriptors (limit 256, 2 per connection; 110 connections open); raise
 * ulimit -n`.
 */
export function overflowText(report: OverflowReport): string {
  const { refused, exhausted } = report;
  const total = refused.max_connections + refused.backoff;
  const failed = exhausted.accept + exhausted.connect;
  const period = `in the last ${Math.round(report.periodMs / 100) / 10} s`;
  const split = refused.backoff > 0 && refused.max_connections > 0 ? ` (${refused.max_connections} over the limit, ${refused.backoff} while backing off)` : '';
  if (failed === 0 && report.limitFrom === 'option') {
    return `refused ${plural(total, 'connection')} ${period}${split}: --max-connections ${report.maxConnections} reached (${plural(report.active, 'connection')} open)`;
  }
  const details: string[] = [];
  if (failed > 0) {
    const where = [exhausted.accept > 0 ? plural(exhausted.accept, 'accept') : '', exhausted.connect > 0 ? plural(exhausted.connect, 'upstream connect') : '']
      .filter((w) => w !== '')
      .join(' and ');
    details.push(`${report.codes.join('/')} on ${where}, new connections closed for ${report.backoffMs} ms after each`);
  }
  details.push(limits(report));
  const hint = report.codes.includes('ENFILE') && !report.codes.includes('EMFILE') ? 'the whole system is out: raise fs.file-max' : 'raise ulimit -n';
  const head = total > 0 ? `refused ${plural(total, 'connection')} ${period}${split}: out of file descriptors` : `ran out of file descriptors ${period}`;
  return `${head} (${details.join('; ')}); ${hint}`;
}

/** The same report as the fields of a JSON line (`event: 'overflow'`). */
export function overflowFields(report: OverflowReport): Record<string, unknown> {
  return {
    period_ms: report.periodMs,
    refused: report.refused.max_connections + report.refused.backoff,
    refused_max_connections: report.refused.max_connections,
    refused_backoff: report.refused.backoff,
    fd_exhausted_accept: report.exhausted.accept,
    fd_exhausted_connect: report.exhausted.connect,
    codes: report.codes,
    max_connections: report.maxConnections === Infinity ? null : report.maxConnections,
    limit_from: report.limitFrom,
    fd_limit: report.budget?.limit ?? null,
    active: report.active,
    backoff_ms: report.backoffMs,
  };
}
