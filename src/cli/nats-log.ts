/**
 * The event log on NATS JetStream for the command line: `forward --log nats://HOST:PORT/STREAM`
 * writes to it, `replay nats://HOST:PORT/STREAM` reads it back.
 */
import { JetStreamSink, readJetStream, type JetStreamRecord, type LogRecord } from '../index.js';
import { redact, redactUrls } from '../log/redact-url.js';
import { CliError } from './cli-error.js';
import { looksLikeDuration, parseDuration } from './duration.js';
import type { Notify } from './sink-health.js';

/** Where a `nats://` log lives. */
export interface NatsTarget {
  /** `nats://HOST:PORT`, without credentials (nats.js ignores those in a URL). */
  server: string;
  /** The URL's credentials as nats.js options: `USER:PASS@` as `user` and `pass`, a lone `TOKEN@` as `token`. */
  auth: { user?: string; pass?: string; token?: string };
  stream: string;
  /** `?instance=NAME`, if given. */
  instance?: string;
  /** `?spool=N`: most records held in memory while NATS is down (the sink's `maxRecords`). */
  spool?: number;
  /** `?message-bytes=N`: most bytes of one connection's records in one message (0: one record per message; the sink's `maxMessageBytes`). */
  messageBytes?: number;
  /** The URL without credentials, for messages. */
  shown: string;
  /** The credentials given, for {@link redact} to cut out of messages that quote nats.js or the server. */
  secrets: string[];
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
/** The query parameters a `nats://` log takes. */
const PARAMS = ['instance', 'spool', 'message-bytes'];

/** Whether a `--log` value or a replay source names a NATS stream. */
export function isNatsTarget(value: string): boolean {
  return /^nats:\/\//i.test(value);
}

/**
 * Parses `nats://[USER:PASS@|TOKEN@]HOST[:PORT][/STREAM][?instance=NAME][&spool=N][&message-bytes=N]` (port 4222,
 * stream `PROXY_LIFECYCLE` by default). The credentials are taken apart into nats.js options:
 * nats.js does not read them from a server URL.
 * @throws {CliError} naming `flag` and the form expected.
 */
export function parseNatsTarget(value: string, flag: string): NatsTarget {
  const form = 'nats://HOST:PORT/STREAM (STREAM: letters, digits, _ and -)';
  // Quoted without its credentials: an error line must not print a password.
  const quoted = JSON.stringify(redactUrls(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`${flag}: ${quoted} is not a URL; expected ${form}`);
  }
  if (url.hostname === '') throw new CliError(`${flag}: ${quoted} has no host; expected ${form}`);
  const path = decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, ''));
  const stream = path === '' ? 'PROXY_LIFECYCLE' : path;
  if (!TOKEN.test(stream)) throw new CliError(`${flag}: stream ${JSON.stringify(stream)}: expected ${form}`);
  for (const key of url.searchParams.keys()) {
    if (!PARAMS.includes(key)) throw new CliError(`${flag}: unknown parameter ${JSON.stringify(key)} in ${quoted}; expected ${PARAMS.join(', ')}`);
  }
  const instance = url.searchParams.get('instance') ?? undefined;
  if (instance !== undefined && !TOKEN.test(instance)) throw new CliError(`${flag}: instance ${JSON.stringify(instance)} must be letters, digits, _ and -`);
  const spoolText = url.searchParams.get('spool') ?? undefined;
  let spool: number | undefined;
  if (spoolText !== undefined) {
    spool = /^\d{1,9}$/.test(spoolText) ? Number(spoolText) : NaN;
    if (!(spool >= 1)) throw new CliError(`${flag}: spool ${JSON.stringify(spoolText)} must be a whole number of records from 1 to 999999999`);
  }
  const bytesText = url.searchParams.get('message-bytes') ?? undefined;
  let messageBytes: number | undefined;
  if (bytesText !== undefined) {
    messageBytes = /^\d{1,9}$/.test(bytesText) ? Number(bytesText) : NaN;
    if (!(messageBytes >= 0 && messageBytes <= 64 * 1024 * 1024)) {
      throw new CliError(`${flag}: message-bytes ${JSON.stringify(bytesText)} must be a whole number of bytes from 0 (one record per message) to 67108864`);
    }
  }
  const port = url.port === '' ? '4222' : url.port;
  let user: string, pass: string;
  try {
    [user, pass] = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
  } catch {
    throw new CliError(`${flag}: the credentials in ${JSON.stringify(`nats://${url.host}/${stream}`)} are not valid percent-encoding (write @ as %40, : as %3A)`);
  }
  const auth: NatsTarget['auth'] = user === '' ? {} : pass === '' ? { token: user } : { user, pass };
  return {
    server: `nats://${url.hostname}:${port}`,
    auth,
    secrets: [url.username, url.password, user, pass].filter((s) => s !== ''),
    stream,
    ...(instance === undefined ? {} : { instance }),
    ...(spool === undefined ? {} : { spool }),
    ...(messageBytes === undefined ? {} : { messageBytes }),
    shown: `nats://${url.hostname}:${port}/${stream}`,
  };
}

/**
 * `forward --log nats://…`: the sink. Its instance (the subject token) is the proxy's: `?instance=`
 * or `--instance` (one name, so subject and connection ids agree), else the library's default.
 */
export function openNatsSink(target: NatsTarget, instance?: string): JetStreamSink {
  if (target.instance !== undefined && instance !== undefined && target.instance !== instance) {
    throw new CliError(`--log: ?instance=${target.instance} and --instance ${instance} differ; give the name once`);
  }
  const name = target.instance ?? instance;
  return new JetStreamSink({
    servers: target.server,
    natsOptions: target.auth,
    stream: target.stream,
    ...(name === undefined ? {} : { instance: name }),
    ...(target.spool === undefined ? {} : { maxRecords: target.spool }),
    ...(target.messageBytes === undefined ? {} : { maxMessageBytes: target.messageBytes }),
  });
}

/**
 * Says once when the JetStream log goes down and once when it is back, with what the outage
 * cost. Returns the function that stops listening.
 */
export function reportNatsHealth(name: string, sink: JetStreamSink, notify: Notify): () => void {
  // The sink cuts credentials out of its errors already; a URL in one is cut again, should nats.js quote one.
  const onError = (err: Error) => {
    const why = redactUrls(err.message);
    notify('sink_failed', { sink: name, error: why }, `${name}: ${why}; records wait in memory (bounded), then are dropped and counted, until NATS is back`);
  };
  const onRecover = ({ ms, dropped }: { ms: number; dropped: number }) =>
    notify('sink_recovered', { sink: name, outage_ms: ms, dropped }, `${name}: NATS acknowledges records again after ${ms} ms; ${dropped} record${dropped === 1 ? '' : 's'} dropped`);
  sink.on('error', onError);
  sink.on('recover', onRecover);
  return () => {
    sink.off('error', onError);
    sink.off('recover', onRecover);
  };
}

/** What `replay nats://…` filters on. */
export interface NatsReadFilter {
  instance?: string;
  connection?: string;
  /** An ISO 8601 time, or a duration back from now (`1h`). */
  since?: string;
}

/**
 * Reads the records of a `nats://` log for replay. Gap markers (records a sink lost) are not
 * records to replay: they are counted and said on stderr, naming the connections that lost some.
 * @throws {CliError} on a bad filter, an unreachable server or a missing stream.
 */
export async function readNatsLog(target: NatsTarget, filter: NatsReadFilter, stderr: (line: string) => void): Promise<LogRecord[]> {
  if (filter.instance !== undefined && !TOKEN.test(filter.instance)) throw new CliError(`--instance must be letters, digits, _ and -, got ${JSON.stringify(filter.instance)}`);
  let since: number | undefined;
  if (filter.since !== undefined) {
    if (looksLikeDuration(filter.since)) since = Date.now() - parseDuration(filter.since, '--since');
    else {
      since = Date.parse(filter.since);
      if (Number.isNaN(since)) throw new CliError(`--since must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration back from now (30m, 1h), got ${JSON.stringify(filter.since)}`);
    }
  }
  const connection = filter.connection === undefined ? undefined : /^\d+$/.test(filter.connection) ? Number(filter.connection) : filter.connection;
  const records: LogRecord[] = [];
  const gaps: Extract<JetStreamRecord, { kind: 'gap' }>[] = [];
  try {
    for await (const r of readJetStream({
      servers: target.server,
      stream: target.stream,
      ...(filter.instance === undefined ? {} : { instance: filter.instance }),
      ...(connection === undefined ? {} : { connection }),
      ...(since === undefined ? {} : { since }),
      natsOptions: { timeout: 5000, ...target.auth },
    })) {
      if (r.kind !== 'gap') records.push(r);
      else {
        gaps.push(r);
        // A connection's gap goes to replay, which then calls that connection incomplete.
        if (r.conn !== undefined) records.push({ t: r.t, conn: String(r.conn), kind: 'gap', lost: r.lost, reason: r.reason });
      }
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error & { code?: unknown };
    const why = e.code === 10059 || /stream not found/i.test(e.message) ? `no stream ${target.stream}` : redact(e.message, target.secrets);
    throw new CliError(`cannot read ${target.shown}: ${why}`);
  }
  if (gaps.length > 0) {
    const lost = gaps.reduce((n, g) => n + g.lost, 0);
    const conns = [...new Set(gaps.map((g) => (g.conn === undefined ? 'refusals' : String(g.conn))))];
    stderr(`proxy-lifecycle: ${target.shown}: the writing proxy lost ${lost} record${lost === 1 ? '' : 's'} (NATS was down or slow): ${conns.join(', ')} incomplete`);
  }
  return records;
}
