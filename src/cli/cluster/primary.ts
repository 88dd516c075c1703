import cluster, { type Worker } from 'node:cluster';
import { cutTornTail, systemClock, type TimerHandle } from '../../index.js';
import { formatEndpoint } from '../args.js';
import { CliError } from '../cli-error.js';
import type { ForwardConfig } from '../forward-args.js';
import { checkWritable } from '../log-file.js';
import { isNatsTarget, parseNatsTarget } from '../nats-log.js';
import type { Output } from '../output.js';
import { listenFailure } from '../proxy-server.js';
import { handleSignals } from '../signals.js';
import type { Notify } from '../sink-health.js';
import { workerBoot } from './boot-id.js';
import { isFromWorker, WORKER_BOOT_ENV, WORKER_INDEX_ENV, type FromWorker, type ToWorker } from './messages.js';
import { servePrimaryMetrics, type PrimaryMetrics } from './primary-metrics.js';
import { RestartBackoff } from './restart-backoff.js';

/** How long past --shutdown-timeout a worker may take to exit (its logs' last writes) before it is killed. */
const EXIT_GRACE_MS = 10_000;

type Reply = FromWorker['pl'];

/** One of the N places a worker runs in, across its restarts. */
interface Slot {
  readonly index: number;
  restarts: number;
  worker: Worker | null;
  pid: number;
  startedAt: number;
  listening: boolean;
  /** Open connections by the worker's last report. */
  active: number;
  /** Its drain's result, once it sent one. */
  stopped: { finished: number; destroyed: number } | null;
  /** The last exit: null while running. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  readonly waiters: Map<Reply, ((m: FromWorker | null) => void)[]>;
  restartTimer: TimerHandle | null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * `forward --workers N`'s primary: forks N workers (each a whole `forward` on the same
 * listening socket, which `node:cluster` shares), prints one `listening on` once all of them
 * listen, relays signals to them, restarts the ones that die (with a backoff, each loss said
 * in one line and counted), serves one `/metrics` for all, and resolves with one exit code:
 * 0 when every worker drained and exited 0.
 *
 * Connections are spread by cluster's default on Linux, SCHED_RR: the primary accepts and
 * hands each socket to the next worker. SCHED_NONE (every worker accepting on the shared
 * socket; `NODE_CLUSTER_SCHED_POLICY=none`) saves the primary that hand-off, but the kernel
 * then wakes whichever worker is idle first, which under epoll piles most connections onto
 * one of them. Measured (docs/bench.md#workers, short connections, 2 cores shared with the
 * load): RR costs 2.5x the single process's CPU per connection (the hand-off over IPC), NONE
 * 1.1x. RR is kept for now for its even spread (the tests rely on it); NONE's balance is
 * not measured yet.
 */
export async function runPrimary(config: ForwardConfig, out: Output): Promise<number> {
  const clock = systemClock;
  const line = (event: string, fields: Record<string, unknown>, text: string) =>
    config.json ? JSON.stringify({ time: new Date().toISOString(), event, ...fields }) : text;
  const warn: Notify = (event, fields, text) => out.stderr(line(event, fields, text));
  const notice: Notify = (event, fields, text) => {
    if (!config.quiet) warn(event, fields, text);
  };

  // Checked and repaired once, here: a worker restarted later must not cut what the others
  // are appending at that moment.
  // A nats:// log is no file: each worker opens its own JetStreamSink; here only its URL is checked.
  const natsLog = config.logFile !== undefined && isNatsTarget(config.logFile);
  if (natsLog) parseNatsTarget(config.logFile!, '--log');
  else if (config.logFile !== undefined) {
    checkWritable(config.logFile);
    const cut = cutTornTail(config.logFile);
    if (cut > 0) warn('log_repaired', { file: config.logFile, cut_bytes: cut }, `--log: cut a torn last line (${cut} bytes, left by a crash) off ${config.logFile}; the records before it are kept`);
  }
  if (config.accessLogFile !== undefined && !config.quiet) checkWritable(config.accessLogFile, '--access-log');
  let metrics: PrimaryMetrics | null = null;
  // Filled below; read at each scrape. Only workers that listen are asked: a worker still
  // starting has nothing to count yet, and asking it would hold the scrape to its bound.
  let slots: Slot[] = [];
  if (config.metrics !== undefined) {
    const endpoint = config.metrics;
    const scraped = () => slots.flatMap((s) => (s.worker !== null && s.listening ? [s.worker] : []));
    metrics = await servePrimaryMetrics(endpoint, scraped).catch((err: NodeJS.ErrnoException) => {
      const where = formatEndpoint(endpoint.host ?? '127.0.0.1', endpoint.port);
      throw new CliError(err.code === undefined ? `--metrics: ${err.message}` : `--metrics: cannot listen on ${where}: ${listenFailure(err)}`);
    });
  }

  const startMs = clock.now();
  const backoff = new RestartBackoff();
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let address = '';
  let startFailure: { message: string; exitCode: number } | null = null;
  let started: () => void = () => {};
  const allListening = new Promise<void>((resolve) => (started = resolve));
  let exited: () => void = () => {};
  const allExited = new Promise<void>((resolve) => (exited = resolve));

  slots = Array.from({ length: config.workers }, (_, i) => ({
    index: i + 1,
    restarts: 0,
    worker: null,
    pid: 0,
    startedAt: 0,
    listening: false,
    active: 0,
    stopped: null,
    exit: null,
    waiters: new Map(),
    restartTimer: null,
  }));
  const live = () => slots.filter((s) => s.worker !== null);
  const running = () => metrics?.workers.set(live().length);

  const send = (slot: Slot, message: ToWorker) => slot.worker?.send(message, undefined, () => {});
  /** Sends `message` and resolves with the worker's `reply`, or null if it exits first. */
  const ask = (slot: Slot, message: ToWorker, reply: Reply) =>
    new Promise<FromWorker | null>((resolve) => {
      if (slot.worker === null) return resolve(null);
      const list = slot.waiters.get(reply) ?? [];
      list.push(resolve);
      slot.waiters.set(reply, list);
      send(slot, message);
    });

  const onMessage = (slot: Slot, m: unknown) => {
    if (!isFromWorker(m)) return;
    switch (m.pl) {
      case 'listening':
        slot.listening = true;
        address ||= m.address;
        if (phase === 'running') notice('worker_restarted', { worker: slot.index, pid: slot.pid }, `worker ${slot.index} restarted (pid ${slot.pid})`);
        if (slots.every((s) => s.listening)) started();
        break;
      case 'failed':
        if (phase === 'starting') {
          startFailure ??= { message: m.message, exitCode: m.exitCode };
          started();
          // The other workers' failures of the same start: already said, once, by the primary.
        } else if (startFailure === null) warn('worker_failed', { worker: slot.index, pid: slot.pid, error: m.message }, `worker ${slot.index} (pid ${slot.pid}): ${m.message}`);
        break;
      case 'active':
        slot.active = m.active;
        break;
      case 'stopping':
        slot.active = m.inFlight;
        break;
      case 'stopped':
        slot.stopped = { finished: m.finished, destroyed: m.destroyed };
        break;
    }
    const waiting = slot.waiters.get(m.pl);
    if (waiting !== undefined) {
      slot.waiters.delete(m.pl);
      for (const resolve of waiting) resolve(m);
    }
  };

  const fork = (slot: Slot) => {
    slot.restartTimer = null;
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index), [WORKER_BOOT_ENV]: workerBoot(startMs, slot.index, slot.restarts) });
    Object.assign(slot, { worker, pid: worker.process.pid ?? 0, startedAt: clock.now(), listening: false, active: 0, stopped: null, exit: null });
    worker.on('message', (m: unknown) => onMessage(slot, m));
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => onExit(slot, worker, code, signal));
    // Node's cluster writes to the worker's channel on its own (the answer to its listen, say)
    // and emits a failure here: without a listener the primary would throw. A worker that
    // exited or is exiting (EPIPE, a closed channel) is reported by its 'exit'; anything else
    // is said once per worker.
    let ipcFailureSaid = false;
    worker.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET' || err.code === 'ERR_IPC_CHANNEL_CLOSED' || ipcFailureSaid) return;
      ipcFailureSaid = true;
      warn('worker_ipc_error', { worker: slot.index, pid: slot.pid, error: err.code ?? err.message }, `worker ${slot.index} (pid ${slot.pid}): IPC: ${err.message}`);
    });
    running();
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.exit = { code, signal };
    // Its counters stay in the fleet's sums: they must not go backwards when a worker dies.
    metrics?.fleet.retire(worker);
    for (const list of slot.waiters.values()) for (const resolve of list) resolve(null);
    slot.waiters.clear();
    running();
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    if (phase === 'starting') {
      startFailure ??= { message: `worker ${slot.index} (pid ${slot.pid}) exited with ${how} before listening`, exitCode: 1 };
      started();
    } else if (phase === 'running') {
      // A drained worker (someone sent it SIGTERM) lost what it destroyed; a crashed one, what it last reported.
      const lost = slot.stopped?.destroyed ?? slot.active;
      warn(
        'worker_exit',
        { worker: slot.index, pid: slot.pid, code, signal, lost_connections: lost },
        `worker ${slot.index} (pid ${slot.pid}) exited with ${how}: ${lost} connection(s) lost`,
      );
      metrics?.lost.inc(lost);
      const delay = backoff.next(clock.now() - slot.startedAt);
      slot.restarts++;
      metrics?.restarts.inc();
      slot.restartTimer = clock.setTimeout(() => fork(slot), delay);
    }
    if (live().length === 0 && phase === 'stopping') exited();
  };

  // Installed before the first fork, for the whole run, as in the single process.
  let first: ((signal: NodeJS.Signals) => void) | null = null;
  let again = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => (first = resolve));
  handleSignals({
    stop: (signal) => {
      if (first === null) return again();
      first(signal);
      first = null;
    },
    reopen: (signal) => {
      void Promise.all(live().map((s) => ask(s, { pl: 'reopen' }, 'reopened'))).then(() => {
        const files = [natsLog ? undefined : config.logFile, config.quiet ? undefined : config.accessLogFile].filter((f) => f !== undefined);
        notice('reopen', { signal, files }, `${signal}: ${files.length === 0 ? 'no log file to reopen' : `reopened ${files.join(', ')}`}`);
      });
    },
    status: () => {
      const restarts = slots.reduce((n, s) => n + s.restarts, 0);
      warn('status_workers', { workers: live().length, of: slots.length, restarts }, `status: ${live().length} of ${plural(slots.length, 'worker')} running, ${plural(restarts, 'restart')}`);
      for (const s of live()) send(s, { pl: 'status' });
    },
  });

  for (const slot of slots) fork(slot);
  const signal = await Promise.race([allListening.then(() => null), signalled]);
  if (signal === null && startFailure !== null) {
    const failure: { message: string; exitCode: number } = startFailure;
    phase = 'stopping';
    for (const s of live()) s.worker!.process.kill('SIGKILL');
    if (live().length > 0) await allExited;
    await metrics?.server.close();
    throw new CliError(failure.message, failure.exitCode);
  }
  if (signal === null) {
    phase = 'running';
    out.stdout(`listening on ${address}`);
    if (metrics !== null) out.stdout(`metrics on ${metrics.server.url}`);
  }

  const stopSignal = signal ?? (await signalled);
  phase = 'stopping';
  for (const s of slots) {
    if (s.restartTimer !== null) clock.clearTimeout(s.restartTimer);
    s.restartTimer = null;
  }
  again = () => {
    notice('abort', {}, 'second signal: destroying every connection now');
    for (const s of live()) send(s, { pl: 'abort' });
  };
  const deadline = clock.setTimeout(() => {
    for (const s of live()) s.worker!.process.kill('SIGKILL');
  }, config.shutdownTimeout + EXIT_GRACE_MS);
  const replies = await Promise.all(live().map((s) => ask(s, { pl: 'stop' }, 'stopping')));
  const inFlight = replies.reduce((n, r) => n + (r?.pl === 'stopping' ? r.inFlight : 0), 0);
  notice(
    'stopping',
    { signal: stopSignal, in_flight: inFlight, shutdown_timeout_ms: config.shutdownTimeout, workers: slots.length },
    `${stopSignal}: not accepting connections; ${inFlight} in flight, destroying what is left in ${config.shutdownTimeout} ms`,
  );
  if (live().length > 0) await allExited;
  clock.clearTimeout(deadline);
  const finished = slots.reduce((n, s) => n + (s.stopped?.finished ?? 0), 0);
  const destroyed = slots.reduce((n, s) => n + (s.stopped?.destroyed ?? 0), 0);
  notice('stopped', { finished, destroyed }, `stopped: ${finished} finished, ${destroyed} destroyed`);
  let code = 0;
  for (const s of slots) {
    const exit = s.exit;
    if (exit === null || (exit.code === 0 && exit.signal === null)) continue;
    code = 1;
    const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
    const lost = s.stopped === null ? `: ${s.active} connection(s) lost` : '';
    warn('worker_exit', { worker: s.index, pid: s.pid, code: exit.code, signal: exit.signal }, `worker ${s.index} (pid ${s.pid}) exited with ${how}${lost}`);
  }
  await metrics?.server.close();
  return code;
}
