import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { EventLogParseError, isConnectionId, recoverEventLogStream, renderTimelineHtml, type LogRecord } from '../index.js';
import { parseArgs } from './args.js';
import { CliError } from './cli-error.js';
import { Follower, type ClosedItem, type GapItem, type OpenItem, type StepItem } from './follow.js';
import { isNatsTarget, parseNatsTarget, readNatsLog } from './nats-log.js';
import type { Output } from './output.js';
import { TIMELINE_HEADER, formatClosed, formatGap, formatIncomplete, formatOpen, formatPending, formatStep } from './timeline.js';
import { REPLAY_USAGE } from './usage.js';

/** Ids in a readable order: by prefix, then by counter (`a-b-9` before `a-b-10`; old numeric ids by number). */
const byId = new Intl.Collator('en', { numeric: true }).compare;

/** One connection's story in the log, from its `open` record on. */
interface Story {
  open: OpenItem;
  /** Its events, and the gap records among them. */
  steps: (StepItem | GapItem)[];
  closed?: ClosedItem;
  /** Records lost by gap records that came after its close record (the follower had let it go). */
  lostAfterClose: number;
  gapAfterClose: boolean;
}

/**
 * Reads the log from `file` (`-`: standard input), chunk by chunk. A torn last line, as a
 * crash mid-write leaves it, is reported on stderr and the records before it replayed, as a
 * write-ahead log is recovered; any other malformed line is exit 2 naming it.
 */
async function readLog(file: string, name: string, out: Output): Promise<LogRecord[]> {
  try {
    const { records, torn } = await recoverEventLogStream(file === '-' ? process.stdin : createReadStream(file));
    if (torn !== null) {
      out.stderr(
        `proxy-lifecycle: ${name}: line ${torn.line} is torn (${torn.bytes} bytes without an end of line, as a crash mid-write leaves it); ` +
          `replayed the ${records.length} record${records.length === 1 ? '' : 's'} before it`,
      );
    }
    return records;
  } catch (err) {
    if (err instanceof EventLogParseError) throw new CliError(`${name}: ${err.message}`);
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new CliError(`cannot read ${name}: ${why}`);
  }
}

/** Groups the records into stories; a connection id opened again (a file appended by several runs) starts a new story. */
function stories(records: LogRecord[]): { stories: Story[]; follower: Follower; current: Map<string, Story> } {
  const follower = new Follower();
  const all: Story[] = [];
  const current = new Map<string, Story>();
  /** The last story of each id that closed: where a gap written after the close belongs. */
  const closed = new Map<string, Story>();
  for (const record of records) {
    const item = follower.observe(record);
    if (item === undefined) continue;
    if (item.kind === 'open') {
      const story: Story = { open: item, steps: [], lostAfterClose: 0, gapAfterClose: false };
      all.push(story);
      current.set(item.conn, story);
    } else if (item.kind === 'step') current.get(item.conn)!.steps.push(item);
    else if (item.kind === 'gap') {
      const story = item.live ? current.get(item.conn) : closed.get(item.conn);
      if (story === undefined) follower.incomplete.add(item.conn);
      else if (item.live) story.steps.push(item);
      else {
        story.gapAfterClose = true;
        story.lostAfterClose += item.lost;
        story.steps.push({ ...item, sinceOpen: item.t - story.open.t });
      }
    } else {
      const story = current.get(item.conn)!;
      story.closed = item;
      current.delete(item.conn);
      closed.set(item.conn, story);
    }
  }
  return { stories: all, follower, current };
}

/**
 * The clients refused at the door, which have no timeline (no connection existed): one line
 * counting them by limit, most first, e.g. `3 refused at accept: 2 max_connections_per_ip,
 * 1 max_connections`; null when there were none.
 */
export function refusedSummary(records: readonly LogRecord[]): string | null {
  const byLimit = new Map<string, number>();
  let total = 0;
  for (const r of records) {
    if (r.kind !== 'refused') continue;
    total++;
    byLimit.set(r.limit, (byLimit.get(r.limit) ?? 0) + 1);
  }
  if (total === 0) return null;
  const limits = [...byLimit].sort((a, b) => b[1] - a[1]).map(([limit, n]) => `${n} ${limit}`);
  return `${total} refused at accept: ${limits.join(', ')}`;
}

/** `replay FILE --html OUT.html`: the timeline page, for all connections or one. */
async function writeHtml(records: LogRecord[], file: string, target: string, wanted: string | undefined, out: Output): Promise<number> {
  const chosen = wanted === undefined ? records : records.filter((r) => r.conn === wanted);
  if (wanted !== undefined && chosen.length === 0) throw new CliError(`connection ${wanted} is not in ${file}`);
  try {
    await writeFile(target, renderTimelineHtml(chosen, { title: file }));
  } catch (err) {
    throw new CliError(`cannot write ${target}: ${(err as Error).message}`);
  }
  const count = new Set(chosen.filter((r) => r.kind === 'open').map((r) => r.conn)).size;
  out.stdout(`wrote ${target} (${count} connection${count === 1 ? '' : 's'})`);
  return 0;
}

/** `proxy-lifecycle replay FILE|- [--connection ID] [--html OUT.html]`. */
export async function runReplay(argv: readonly string[], out: Output): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { connection: 'string', html: 'string', help: 'boolean', instance: 'string', since: 'string' }, 'replay');
  if (flags.has('help')) {
    out.stdout(REPLAY_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new CliError('replay needs an event log FILE (written by forward --log FILE), or - for standard input');
  if (positionals.length > 1) throw new CliError(`replay takes one FILE, got ${positionals.length} arguments`);
  const wanted = flags.get('connection') as string | undefined;
  if (wanted !== undefined && !isConnectionId(wanted)) {
    throw new CliError(`--connection must be a connection id (up to 100 of A-Z a-z 0-9 _ -, e.g. web1-mf3k2a1b-7, or 7 in an older log), got ${JSON.stringify(wanted)}`);
  }
  const source = positionals[0]!;
  const nats = isNatsTarget(source) ? parseNatsTarget(source, 'replay') : null;
  if (nats === null) for (const flag of ['instance', 'since']) if (flags.has(flag)) throw new CliError(`--${flag} reads a nats:// stream, not a file`);
  const file = nats !== null ? nats.shown : source === '-' ? 'standard input' : source;
  const filter = { instance: flags.get('instance') as string | undefined, connection: wanted, since: flags.get('since') as string | undefined };
  const records = nats === null ? await readLog(source, file, out) : await readNatsLog(nats, filter, (line) => out.stderr(line));
  const html = flags.get('html') as string | undefined;
  if (html !== undefined) return writeHtml(records, file, html, wanted, out);
  const { stories: all, follower, current } = stories(records);
  const shown = wanted === undefined ? all : all.filter((s) => s.open.conn === wanted);
  if (wanted !== undefined && shown.length === 0) {
    throw new CliError(`connection ${wanted} is not in ${file} (it has ${describeIds(all)})`);
  }
  if (all.length === 0) out.stdout(`${file} holds no connections`);
  const pending = new Map(follower.pending().map((p) => [p.conn, p]));
  for (const story of shown) {
    const { open } = story;
    const from = open.client === undefined ? '' : ` from ${open.client}`;
    const at = open.t > 1e11 ? `, opened ${new Date(open.t).toISOString()}` : '';
    out.stdout(`connection ${open.conn}${from}${at}`);
    out.stdout(TIMELINE_HEADER);
    out.stdout(formatOpen(open));
    for (const step of story.steps) out.stdout(step.kind === 'gap' ? formatGap(step) : formatStep(step));
    const still = current.get(open.conn) === story ? pending.get(open.conn) : undefined;
    const incomplete = story.gapAfterClose || (story.closed ?? still)?.incomplete === true;
    if (incomplete) out.stdout(formatIncomplete(open.conn, story.lostAfterClose + ((story.closed ?? still)?.lost ?? 0), story.closed));
    else if (story.closed !== undefined) out.stdout(formatClosed(story.closed));
    else if (still !== undefined) out.stdout(formatPending(still));
    else out.stdout('  no close record: the same id was opened again later (the log spans several runs)');
    out.stdout('');
  }
  const missing = [...follower.incomplete].filter((id) => wanted === undefined || id === wanted);
  if (missing.length > 0) {
    out.stdout(`skipped connection${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: the log lost ${missing.length > 1 ? 'their' : 'its'} open record`);
  }
  // Refusals belong to no connection: summarised for the whole log, not for --connection.
  const refused = wanted === undefined ? refusedSummary(records) : null;
  if (refused !== null) out.stdout(refused);
  return 0;
}

function describeIds(all: Story[]): string {
  if (all.length === 0) return 'no connections';
  const ids = [...new Set(all.map((s) => s.open.conn))].sort(byId);
  return ids.length <= 10 ? `connection${ids.length > 1 ? 's' : ''} ${ids.join(', ')}` : `${ids.length} connections, ${ids[0]} to ${ids[ids.length - 1]}`;
}
