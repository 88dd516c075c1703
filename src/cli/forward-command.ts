import {
  collectMetrics,
  serveMetrics,
  startInspectorServer,
  type CloseInfo,
  type InspectorServer,
  type MetricsServer,
  type SupervisorMetrics,
} from '../index.js';
import { accessLogEntry, formatJson, formatText } from './access-log.js';
import { formatEndpoint, type Endpoint } from './args.js';
import { CliError } from './cli-error.js';
import { parseForwardArgs, type InspectConfig } from './forward-args.js';
import { closeLog, openLog } from './log-file.js';
import type { Output } from './output.js';
import { overflowFields, overflowText } from './overflow-notice.js';
import { listenFailure, Proxy } from './proxy.js';
import { FORWARD_USAGE } from './usage.js';

/** Starts the inspector relay for `--inspect`, its failures as one line naming the flag. */
async function startInspector(config: InspectConfig): Promise<InspectorServer> {
  try {
    return await startInspectorServer({ port: config.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${config.port} is already in use` : e.code === 'EACCES' ? `permission denied for port ${config.port}` : e.message.replace(/^inspector: /, '');
    throw new CliError(`--inspect: ${why}`);
  }
}

/** Collects and serves the proxy's metrics for `--metrics`, its failures as one line naming the flag. */
async function startMetrics(proxy: Proxy, endpoint: Endpoint): Promise<{ collector: SupervisorMetrics; server: MetricsServer }> {
  const collector = await collectMetrics(proxy.supervisor, { guard: proxy.guard }).catch((err: Error) => {
    throw new CliError(`--metrics: ${err.message.replace(/^metrics: /, '')}`);
  });
  try {
    const server = await serveMetrics(collector.register, { host: endpoint.host ?? '127.0.0.1', port: endpoint.port });
    return { collector, server };
  } catch (err) {
    collector.stop();
    const where = formatEndpoint(endpoint.host ?? '127.0.0.1', endpoint.port);
    throw new CliError(`--metrics: cannot listen on ${where}: ${listenFailure(err as NodeJS.ErrnoException)}`);
  }
}

/**
 * `proxy-lifecycle forward`: runs until SIGTERM or SIGINT, then drains and resolves with the
 * exit code.
 */
export async function runForward(argv: readonly string[], out: Output): Promise<number> {
  const config = parseForwardArgs(argv);
  if (config === 'help') {
    out.stdout(FORWARD_USAGE);
    return 0;
  }
  const log = openLog(config.logFile);
  const notice = (event: string, fields: Record<string, unknown>, text: string) => {
    if (config.quiet) return;
    out.stderr(config.json ? JSON.stringify({ time: new Date().toISOString(), event, ...fields }) : text);
  };
  // One handler for the whole run, installed before the socket is up: the first signal
  // starts the stop, a second one destroys what is left. It is never removed, so no signal
  // can ever meet Node's default handler (which would kill the process).
  let first: ((signal: NodeJS.Signals) => void) | null = null;
  let again = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => (first = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (first === null) return again();
    first(signal);
    first = null;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The relay comes first: the supervisor takes its observer when it is created.
  const inspector = config.inspect === undefined ? null : await startInspector(config.inspect);
  const every = config.inspect?.every ?? 1;
  const inspect =
    inspector === null ? undefined : { observer: inspector.observer, select: every === 1 ? undefined : (id: number) => (id - 1) % every === 0 };
  // The access log and the log file show the client's address; without either, skip the syscall.
  const clientAddress = !config.quiet || config.logFile !== undefined;
  const warn = (event: string, fields: Record<string, unknown>, text: string) =>
    out.stderr(config.json ? JSON.stringify({ time: new Date().toISOString(), event, ...fields }) : text);
  const proxy = await Proxy.start(
    { listen: config.listen, target: config.target, maxConnections: config.maxConnections, supervisor: { ...config.options, clientAddress, log, inspect } },
    {
      onClose: (info: CloseInfo) => {
        if (config.quiet) return;
        const entry = accessLogEntry(info);
        out.stderr(config.json ? formatJson(entry) : formatText(entry));
      },
      // Failures are printed even with --quiet (which silences the access log): a proxy that
      // loses connections says so.
      onServerError: (err) => warn('server_error', { error: err.message }, `listening socket error: ${err.message}`),
      onOverflow: (report) => warn('overflow', overflowFields(report), overflowText(report)),
    },
  ).catch(async (err: unknown) => {
    await inspector?.close();
    throw err;
  });
  // Every start-up failure comes before 'listening on': whoever waits for that line (a
  // supervisor, a test) may rely on the whole proxy, metrics included, being up.
  let metrics: { collector: SupervisorMetrics; server: MetricsServer } | null = null;
  if (config.metrics !== undefined) {
    try {
      metrics = await startMetrics(proxy, config.metrics);
    } catch (err) {
      proxy.abort();
      await proxy.stop(0);
      await inspector?.close();
      throw err;
    }
  }
  const { budget, maxConnections } = proxy.guard;
  if (config.maxConnections !== undefined && budget !== null && maxConnections > budget.connections) {
    warn(
      'max_connections_over_budget',
      { max_connections: maxConnections, fit: budget.connections, fd_limit: budget.limit },
      `--max-connections ${maxConnections} needs ${2 * maxConnections} file descriptors, but ulimit -n ${budget.limit} leaves room for ${budget.connections} connections: raise ulimit -n`,
    );
  }
  out.stdout(`listening on ${proxy.address}`);
  if (metrics !== null) out.stdout(`metrics on ${metrics.server.url}`);
  if (inspector !== null) out.stdout(`inspector on ${inspector.url}`);

  const signal = await signalled;
  const active = proxy.supervisor.stats.active;
  notice(
    'stopping',
    { signal, in_flight: active, shutdown_timeout_ms: config.shutdownTimeout },
    `${signal}: not accepting connections; ${active} in flight, destroying what is left in ${config.shutdownTimeout} ms`,
  );
  again = () => {
    notice('abort', {}, 'second signal: destroying every connection now');
    proxy.abort();
  };
  const result = await proxy.stop(config.shutdownTimeout);
  if (metrics !== null) {
    metrics.collector.stop();
    await metrics.server.close();
  }
  // After the drain, so the inspector sees every connection to its end.
  await inspector?.close();
  notice(
    'stopped',
    { finished: result.inFlight - result.aborted, destroyed: result.aborted },
    `stopped: ${result.inFlight - result.aborted} finished, ${result.aborted} destroyed`,
  );
  return (await closeLog(log, config.logFile, out)) ? 0 : 1;
}
