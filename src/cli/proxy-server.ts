import net from 'node:net';
import {
  composeAdmission,
  ConnectionLimits,
  isDescriptorError,
  OverflowGuard,
  Supervisor,
  type CloseInfo,
  type OverflowReport,
  type Refusal,
  type SupervisorOptions,
} from '../index.js';
import { formatEndpoint, type Endpoint } from './args.js';
import { CliError } from './cli-error.js';
import { Follower, type FollowItem } from './follow.js';

/** Where to listen, where to connect, and the supervisor's options (lifecycle, log). */
export interface ProxyConfig {
  listen: Endpoint;
  target: Required<Endpoint>;
  supervisor?: SupervisorOptions;
  /**
   * Connections served at once (a `ConnectionLimits` limit, refused before any upstream
   * connect). The file-descriptor budget applies too (the guard's limit): the smaller wins.
   */
  maxConnections?: number;
  /** Connections served at once from one client address. */
  maxConnectionsPerIp?: number;
}

/** Callbacks a command hangs its output on. */
export interface ProxyHooks {
  /** Every lifecycle event of every connection, with both sides' states. */
  onItem?(item: FollowItem): void;
  /** A connection was disposed (`info.code` is its termination code). */
  onClose?(info: CloseInfo): void;
  /** The listening socket failed after start-up (other than out of file descriptors: see `onOverflow`). */
  onServerError?(err: Error): void;
  /** Connections were refused or descriptors ran out: at most once a second, with counts. */
  onOverflow?(report: OverflowReport): void;
  /** A client was refused at the door (a limit, the back-off, the descriptor budget): one call per client. */
  onRefused?(refusal: Refusal): void;
}

/** What {@link ProxyServer.stop} did. */
export interface StopResult {
  /** Connections live when the stop began. */
  inFlight: number;
  /** Connections destroyed at the deadline (or by an abort during the stop). */
  aborted: number;
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'the address is not available on this machine',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'the host name could not be resolved',
};

/** The accept queue `forward` asks for: as HAProxy and nginx edge configurations do, more than Node's 511. */
export const LISTEN_BACKLOG = 4096;

/** Why a listen failed, in words (`the address is already in use`, …), for one-line errors. */
export function listenFailure(err: NodeJS.ErrnoException): string {
  return (err.code && LISTEN_ERRORS[err.code]) ?? err.message;
}

/**
 * A TCP proxy on the engine: a listening socket whose connections a {@link Supervisor}
 * forwards to one target. Used by `forward` and by `demo`.
 */
export class ProxyServer {
  readonly supervisor: Supervisor;
  /** Admission: the descriptor-budget limit, the back-off, the counts of what was refused. */
  readonly guard: OverflowGuard;
  /** Admission: `--max-connections` and `--max-connections-per-ip`, asked before the guard. */
  readonly limits: ConnectionLimits;
  readonly follower = new Follower();
  /** The bound address, `host:port`. */
  address = '';
  port = 0;
  private readonly server: net.Server;
  private stopping: Promise<StopResult> | null = null;

  private constructor(private readonly config: ProxyConfig, private readonly hooks: ProxyHooks) {
    // The limits, then the guard's back-off, are the supervisor's admission policy: refused
    // (and logged, counted, reported once, by the supervisor) before a connection exists.
    this.limits = new ConnectionLimits({ maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp });
    this.supervisor = new Supervisor({ ...config.supervisor, admit: composeAdmission(this.limits.hook, () => this.guard.check()) });
    // Following costs a table step per event: only when someone listens.
    const onItem = hooks.onItem;
    if (onItem !== undefined) {
      this.supervisor.events$.subscribe((record) => {
        const item = this.follower.observe(record);
        if (item !== undefined) onItem(item);
      });
    }
    this.supervisor.on('close', (info) => this.hooks.onClose?.(info));
    this.supervisor.on('refused', (refusal) => this.hooks.onRefused?.(refusal));
    // The guard keeps the descriptor budget on the server and reports --max-connections too.
    this.guard = new OverflowGuard(this.supervisor, { admissionMaxConnections: config.maxConnections });
    this.guard.on('report', (report) => this.hooks.onOverflow?.(report));
    const { host, port } = config.target;
    // One dial function and one options object for every connection (net.Socket copies them).
    const dialOptions = { host, port, allowHalfOpen: true };
    const dial = () => net.connect(dialOptions);
    // accept(): the PROXY header first (--accept-proxy), then admission, then the upstream dial.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      void this.supervisor.accept(client, dial);
    });
  }

  /**
   * Starts listening. Resolves once connections are accepted.
   * @throws {CliError} when the address cannot be listened on (in use, not local, …).
   */
  static async start(config: ProxyConfig, hooks: ProxyHooks = {}): Promise<ProxyServer> {
    const proxy = new ProxyServer(config, hooks);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    const { host, port } = this.config.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = host === undefined ? `port ${port}` : formatEndpoint(host, port);
        reject(new CliError(`cannot listen on ${where}: ${listenFailure(err)}`));
      };
      this.server.once('error', onError);
      // Node's default backlog (511) overflows under a connect burst, and a client whose SYN is
      // dropped waits a second for the retransmit; the kernel caps this at net.core.somaxconn.
      this.server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', onError);
        // Out of descriptors is the guard's to count and report, once a second at most.
        this.server.on('error', (err) => {
          if (!isDescriptorError(err)) this.hooks.onServerError?.(err);
        });
        this.guard.attach(this.server);
        const bound = this.server.address() as net.AddressInfo;
        this.port = bound.port;
        this.address = formatEndpoint(bound.address, bound.port);
        resolve();
      });
    });
  }

  /**
   * Stops accepting at once (new connections are refused), lets the connections in flight
   * finish on their own, and destroys whatever is left after `timeoutMs`: the supervisor's
   * shutdown with a drain as long as the deadline, so no SHUTDOWN ends a response still in
   * flight. Resolves when every connection is disposed. Later calls return the same promise.
   */
  stop(timeoutMs: number): Promise<StopResult> {
    this.stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const inFlight = this.supervisor.stats.active;
      let aborted = 0;
      const count = (info: CloseInfo) => {
        if (info.reasons.client === 'aborted' || info.reasons.server === 'aborted') aborted++;
      };
      this.supervisor.on('close', count);
      await this.supervisor.shutdown({ timeout: timeoutMs, drainTimeout: timeoutMs });
      this.supervisor.off('close', count);
      await closed;
      this.guard.close();
      return { inFlight, aborted };
    })();
    return this.stopping;
  }

  /** Destroys every connection now (a second signal). */
  abort(): void {
    this.supervisor.abort();
  }
}
