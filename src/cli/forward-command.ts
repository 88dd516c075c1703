import cluster from 'node:cluster';
import {
  collectMetrics,
  serveMetrics,
  startInspectorServer,
  type CloseInfo,
  type InspectorServer,
  type MetricsServer,
  type Refusal,
  type SupervisorMetrics,
} from '../index.js';
import { AccessLogFile } from './access-log-file.js';
import { formatEndpoint, type Endpoint } from './args.js';
import { CliError } from './cli-error.js';
import { runPrimary } from './cluster/primary.js';
import { WorkerLink } from './cluster/worker.js';
import { parseForwardArgs, type ForwardConfig, type InspectConfig } from './forward-args.js';
import { closeLog, openLog, repairNotice } from './log-file.js';
import { reportNatsHealth } from './nats-log.js';
import type { Output } from './output.js';
import { overflowFields, overflowText } from './overflow-notice.js';
import { listenFailure, ProxyServer } from './proxy-server.js';
import { handleSignals } from './signals.js';
import { reportSinkHealth, type Notify } from './sink-health.js';
import { FORWARD_USAGE } from './usage.js';

/** Starts the inspector relay for `--inspect`, its failures as one line naming the flag. */
async function startInspector(config: InspectConfig): Promise<InspectorServer> {
  try {
    return await startInspectorServer({ host: config.host, port: config.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === undefined ? e.message.replace(/^inspector: /, '') : `cannot listen on ${formatEndpoint(config.host, config.port)}: ${listenFailure(e)}`;
    throw new CliError(`--inspect: ${why}`);
  }
}

/** Collects and serves the proxy's metrics for `--metrics`, its failures as one line naming the flag. */
async function startMetrics(
  proxy: ProxyServer,
  endpoint: Endpoint,
  sinks: Record<string, { readonly dropped: number }>,
): Promise<{ collector: SupervisorMetrics; server: MetricsServer }> {
  const collector = await collectMetrics(proxy.supervisor, { guard: proxy.guard, sinks }).catch((err: Error) => {
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
 * exit code. With `--workers N` (N > 1), the process is the cluster's primary, or one of its
 * workers: each runs {@link serve} on the shared listening socket.
 */
export async function runForward(argv: readonly string[], out: Output): Promise<number> {
  const config = parseForwardArgs(argv);
  if (config === 'help') {
    out.stdout(FORWARD_USAGE);
    return 0;
  }
  if (config.workers === 1) return serve(config, out, null);
  if (cluster.isPrimary) return runPrimary(config, out);
  const worker = new WorkerLink();
  try {
    return await serve(config, out, worker);
  } catch (err) {
    // One line from the primary, not one per worker.
    if (!(err instanceof CliError)) throw err;
    worker.send({ pl: 'failed', message: err.message, exitCode: err.exitCode });
    return err.exitCode;
  }
}

/**
 * One proxy process: alone (`worker` null), or a cluster worker, whose primary prints the
 * start and stop notices for all and relays the signals.
 */
async function serve(config: ForwardConfig, out: Output, worker: WorkerLink | null): Promise<number> {
  // A worker's own notices (its status, its sinks' failures) say which worker.
  const tag = worker === null ? null : worker.index;
  const line = (event: string, fields: Record<string, unknown>, text: string) =>
    config.json
      ? JSON.stringify({ time: new Date().toISOString(), event, ...(tag === null ? {} : { worker: tag }), ...fields })
      : tag === null ? text : `worker ${tag}: ${text}`;
  // Failures are printed even with --quiet (which silences the access log and the notices):
  // a proxy that loses connections or log lines says so.
  const warn: Notify = (event, fields, text) => out.stderr(line(event, fields, text));
  const notice: Notify = (event, fields, text) => {
    if (!config.quiet) warn(event, fields, text);
  };
  if (worker !== null && config.metrics !== undefined) await worker.prepareMetrics();
  // A worker's files are shared with the others: repaired once, by the primary.
  // `logName` names the log in every line: a nats:// URL without its credentials.
  const { log, sink, remote, name: logName } = openLog(config.logFile, { repairTail: worker === null }, config.instance);
  // On standard error, the output's writer (PIPE_BUF writes when workers share it, see main.ts).
  const accessLog = config.quiet ? null : new AccessLogFile(config.accessLogFile, config.json, out.stderrWriter);
  const repaired = repairNotice(sink);
  if (repaired !== null) warn('log_repaired', { file: config.logFile, cut_bytes: sink!.repaired }, repaired);
  if (sink !== null) reportSinkHealth(`--log ${config.logFile}`, sink, warn);
  if (remote !== null) reportNatsHealth(`--log ${logName}`, remote, warn);
  // An access log on standard error cannot report its own failure there. Its writer may be the
  // one notices use (processOutput), which says apart that they moved to standard output.
  if (accessLog !== null) reportSinkHealth(accessLog.name, accessLog.writer, accessLog.file === undefined ? (e, f, t) => out.stdout(line(e, f, t)) : warn);

  let proxy: ProxyServer | null = null;
  // Installed before the socket is up, for the whole run: the first stop signal starts the
  // stop, a second one destroys what is left.
  let first: ((signal: NodeJS.Signals) => void) | null = null;
  let again = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => (first = resolve));
  const reopen = (signal: NodeJS.Signals) => {
    log.reopen();
    accessLog?.writer.reopen();
    const files = [logName, accessLog?.file].filter((f) => f !== undefined);
    notice('reopen', { signal, files }, `${signal}: ${files.length === 0 ? 'no log file to reopen' : `reopened ${files.join(', ')}`}`);
  };
  const actions = {
    stop: (signal: NodeJS.Signals) => {
      if (first === null) return again();
      first(signal);
      first = null;
    },
    reopen,
    status: () => {
      const stats = proxy?.supervisor.stats ?? { active: 0, total: 0, closed: 0, refused: 0 };
      const refused = stats.refused;
      const dropped = { event_log: (sink ?? remote)?.dropped ?? 0, access_log: accessLog?.writer.dropped ?? 0 };
      warn(
        'status',
        { active: stats.active, total: stats.total, refused, log_dropped: dropped },
        `status: ${stats.active} connections open, ${stats.total} accepted, ${refused} refused; log lines dropped: event log ${dropped.event_log}, access log ${dropped.access_log}`,
      );
    },
  };
  if (worker === null) handleSignals(actions);
  else {
    worker.handle({
      // Its own SIGINT and the primary's relay of the terminal's: one stop, not a stop and an abort.
      stop: (signal) => first !== null && actions.stop(signal),
      abort: () => again(),
      reopen: () => {
        log.reopen();
        accessLog?.writer.reopen();
        worker.send({ pl: 'reopened' });
      },
      status: actions.status,
    });
  }
  // The relay comes first: the supervisor takes its observer when it is created.
  const inspector = config.inspect === undefined ? null : await startInspector(config.inspect);
  const every = config.inspect?.every ?? 1;
  // select is asked once per connection, in order: the 1st, 1 + every-th, … connection.
  let asked = 0;
  const inspect =
    inspector === null ? undefined : { observer: inspector.observer, select: every === 1 ? undefined : () => asked++ % every === 0 };
  // The access log and the log file show the client's address; without either, skip the syscall.
  const clientAddress = accessLog !== null || config.logFile !== undefined;
  proxy = await ProxyServer.start(
    {
      listen: config.listen,
      target: config.target,
      maxConnections: config.maxConnections,
      maxConnectionsPerIp: config.maxConnectionsPerIp,
      supervisor: { ...config.options, ...config.proxyProtocol, instance: config.instance ?? remote?.instance, boot: worker?.boot || undefined, clientAddress, log, inspect },
    },
    {
      onClose: accessLog === null ? undefined : (info: CloseInfo) => accessLog.write(info),
      onRefused: accessLog === null ? undefined : (refusal: Refusal) => accessLog.writeRefusal(refusal),
      onServerError: (err) => warn('server_error', { error: err.message }, `listening socket error: ${err.message}`),
      onOverflow: (report) => warn('overflow', overflowFields(report), overflowText(report)),
    },
  ).catch(async (err: unknown) => {
    await inspector?.close();
    throw err;
  });
  // Every start-up failure comes before 'listening on': whoever waits for that line (a
  // supervisor, a test) may rely on the whole proxy, metrics included, being up.
  let metrics: { collector: SupervisorMetrics; server: MetricsServer | null } | null = null;
  if (config.metrics !== undefined) {
    const sinks: Record<string, { readonly dropped: number }> = {};
    if (sink !== null || remote !== null) sinks.event_log = (sink ?? remote)!;
    if (accessLog !== null) sinks.access_log = accessLog.writer;
    try {
      // A worker's metrics are served by the primary, summed with the other workers'.
      metrics = worker === null ? await startMetrics(proxy, config.metrics, sinks) : { collector: await worker.collectMetrics(proxy, sinks), server: null };
    } catch (err) {
      proxy.abort();
      await proxy.stop(0);
      await inspector?.close();
      throw err;
    }
  }
  const { budget } = proxy.guard;
  const { maxConnections } = config;
  // Every worker has the same budget: one of them says so.
  if (maxConnections !== undefined && budget !== null && maxConnections > budget.connections && (worker?.index ?? 1) === 1) {
    warn(
      'max_connections_over_budget',
      { max_connections: maxConnections, fit: budget.connections, fd_limit: budget.limit },
      `--max-connections ${maxConnections} needs ${2 * maxConnections} file descriptors, but ulimit -n ${budget.limit} leaves room for ${budget.connections} connections: raise ulimit -n`,
    );
  }
  if (worker !== null) worker.listening(proxy);
  else out.stdout(`listening on ${proxy.address}`);
  if (metrics?.server) out.stdout(`metrics on ${metrics.server.url}`);
  if (inspector !== null) out.stdout(`inspector on ${inspector.url}`);

  const signal = await signalled;
  const active = proxy.supervisor.stats.active;
  worker?.send({ pl: 'stopping', inFlight: active });
  if (worker === null) notice(
    'stopping',
    { signal, in_flight: active, shutdown_timeout_ms: config.shutdownTimeout },
    `${signal}: not accepting connections; ${active} in flight, destroying what is left in ${config.shutdownTimeout} ms`,
  );
  const stopping = proxy;
  again = () => {
    if (worker === null) notice('abort', {}, 'second signal: destroying every connection now');
    stopping.abort();
  };
  const result = await proxy.stop(config.shutdownTimeout);
  if (metrics !== null) {
    metrics.collector.stop();
    await metrics.server?.close();
  }
  // After the drain, so the inspector sees every connection to its end.
  await inspector?.close();
  // The access log's last lines before the 'stopped' notice, which may share its stream.
  await accessLog?.close();
  // Read before the notice below, which a shared standard error writer would count as pending.
  const accessDropped = accessLog?.writer.dropped ?? 0;
  const accessUnwritten = accessLog?.writer.pending ?? 0;
  if (worker !== null) worker.stopped(result.inFlight - result.aborted, result.aborted);
  else notice(
    'stopped',
    { finished: result.inFlight - result.aborted, destroyed: result.aborted },
    `stopped: ${result.inFlight - result.aborted} finished, ${result.aborted} destroyed`,
  );
  const accessLost = accessDropped + accessUnwritten;
  if (accessLost > 0) warn('access_log_lost', { dropped: accessDropped, unwritten_bytes: accessUnwritten }, `${accessLog!.name}: ${accessDropped} lines dropped, ${accessUnwritten} bytes unwritten`);
  return (await closeLog(log, logName, out)) && accessLost === 0 ? 0 : 1;
}
