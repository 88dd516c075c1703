import { parseArgs } from '../args.js';
import { CliError } from '../cli-error.js';
import type { ClosedItem, FollowItem } from '../follow.js';
import { closeLog, openLog } from '../log-file.js';
import type { Output } from '../output.js';
import { ProxyServer } from '../proxy-server.js';
import { formatGap, formatOpen, formatOutcome, formatStep } from '../timeline.js';
import { DEMO_USAGE } from '../usage.js';
import { SCENARIOS, failedRow, type Row, type ScenarioContext } from './scenarios.js';
import { DemoServices } from './services.js';
import { renderTable } from './table.js';

const SOCKET_TIMEOUT = 200;

/** Collects the proxy's closed connections by client address, for the scenarios to await. */
class Outcomes {
  private readonly done = new Map<string, ClosedItem>();
  private readonly waiting = new Map<string, (item: ClosedItem) => void>();

  add(item: ClosedItem): void {
    if (item.client === undefined) return;
    const waiter = this.waiting.get(item.client);
    if (waiter !== undefined) {
      this.waiting.delete(item.client);
      waiter(item);
    } else this.done.set(item.client, item);
  }

  get(key: string): Promise<ClosedItem> {
    const item = this.done.get(key);
    if (item !== undefined) {
      this.done.delete(key);
      return Promise.resolve(item);
    }
    return new Promise((resolve) => this.waiting.set(key, resolve));
  }
}

/** A live lifecycle line for each event of each connection. */
function describe(item: FollowItem): string {
  // The counter only (`web1-mf3k2a1b-3` → `#3`): the demo's connections share the rest.
  const id = `#${item.conn.slice(item.conn.lastIndexOf('-') + 1)}`.padEnd(4);
  switch (item.kind) {
    case 'open':
      return `  ${id}${formatOpen(item)}`;
    case 'step':
      return `  ${id}${formatStep(item)}`;
    case 'closed':
      return `  ${id}closed after ${Math.round(item.durationMs)} ms: ${formatOutcome(item)}`;
    case 'gap':
      return `  ${id}${formatGap(item)}`;
  }
}

/**
 * `proxy-lifecycle demo`: upstream services and the proxy on free loopback ports, the
 * scenarios a naive proxy gets wrong, each connection's lifecycle as it happens, and a
 * summary table. With `--log FILE`, the proxy's event log is appended to FILE as JSON lines,
 * as `forward --log` does. Exit code 0 when every scenario delivered what it should (and the
 * log was written), 1 otherwise.
 */
export async function runDemo(argv: readonly string[], out: Output): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { log: 'string', help: 'boolean' }, 'demo');
  if (flags.has('help')) {
    out.stdout(DEMO_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(`demo takes no arguments, got ${JSON.stringify(positionals[0])}`);
  const logFile = flags.get('log') as string | undefined;
  // Checked before anything starts: a bad path is exit 2 at once.
  const { log } = openLog(logFile);

  const services = new DemoServices();
  await services.start();
  const outcomes = new Outcomes();
  const proxy = await ProxyServer.start(
    {
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: services.port },
      supervisor: { socketTimeout: SOCKET_TIMEOUT, timeoutBehavior: 'reset', gracePeriod: 1000, connectTimeout: 2000, log },
    },
    {
      onItem: (item) => {
        out.stdout(describe(item));
        if (item.kind === 'closed') outcomes.add(item);
      },
    },
  );
  out.stdout(`proxy-lifecycle demo: upstream services on 127.0.0.1:${services.port}, proxy on ${proxy.address}`);
  out.stdout(`proxy options: socketTimeout ${SOCKET_TIMEOUT} ms (reset), gracePeriod 1000 ms, connectTimeout 2000 ms`);

  const ctx: ScenarioContext = {
    proxyPort: proxy.port,
    closed: (key) => outcomes.get(key),
    stop: (ms) => proxy.stop(ms),
    socketTimeout: SOCKET_TIMEOUT,
  };
  const rows: Row[] = [];
  for (const [i, scenario] of SCENARIOS.entries()) {
    out.stdout('');
    out.stdout(`${i + 1}. ${scenario.title}: ${scenario.story}`);
    out.stdout(`   a naive proxy: ${scenario.naive}`);
    try {
      rows.push(...(await scenario.run(ctx)));
    } catch (err) {
      rows.push(failedRow(scenario.title, err));
    }
  }
  // The last scenario stops the proxy; stop() is idempotent, and destroys anything left over.
  await proxy.stop(0);
  await services.close();
  const logged = await closeLog(log, logFile, out);

  const failed = rows.filter((r) => !r.ok).length;
  out.stdout('');
  out.stdout(renderTable(rows));
  out.stdout('');
  out.stdout(failed === 0 ? `all ${rows.length} checks passed` : `${failed} of ${rows.length} checks FAILED`);
  if (logFile !== undefined && logged) {
    const total = proxy.supervisor.stats.total;
    out.stdout(`event log of ${total} connection${total === 1 ? '' : 's'} appended to ${logFile} (proxy-lifecycle replay ${logFile})`);
  }
  return failed === 0 && logged ? 0 : 1;
}
