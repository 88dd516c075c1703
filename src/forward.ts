import { checkSignal, whenAborted } from './abort-signal.js';
import { Connection } from './binding/connection.js';
import { ConnectionIds } from './connection-ids.js';
import { ConnectionStream } from './binding/connection-stream.js';
import type { SocketLike, Upstream } from './binding/socket-like.js';
import { resolveEnvironment, resolveOptions, type EnvironmentOptions, type LifecycleOptions } from './options.js';

/** Options of {@link forward}: lifecycle options plus where time and the log come from. */
export interface ForwardOptions extends LifecycleOptions, EnvironmentOptions {
  /**
   * Aborting it aborts the connection (`connection.abort()`: both sockets destroyed, close
   * reasons `aborted`), as an aborted signal destroys a stream in `stream.addAbortSignal`.
   * Already aborted: the connection is aborted as soon as it is created. The listener is
   * removed once the connection is disposed.
   */
  signal?: AbortSignal;
}

/** The ids of connections made outside a supervisor: made at the first, with the defaults. */
let standaloneIds: ConnectionIds | null = null;

/**
 * What connections made by `forward()` outside a supervisor publish on: one stream for all of
 * them, as a supervisor has one for its own. Its one subscriber removes a connection's
 * `signal` listener at its final state.
 */
const standalone = new ConnectionStream();
const unwatchers = new Map<Connection, () => void>();
standalone.messages$.subscribe((message) => {
  if (message.type !== 'final') return;
  const unwatch = unwatchers.get(message.connection);
  if (unwatch === undefined) return;
  unwatchers.delete(message.connection);
  unwatch();
});

export type { EnvironmentOptions };

/**
 * Proxies `client` to `upstream` under the lifecycle machine: bytes flow with backpressure,
 * half-closes are forwarded, timers run on the injected clock, and the connection disposes
 * of itself once both sides are closed.
 *
 * @param client - the accepted socket (`net.Socket`, `tls.TLSSocket`, an upgrade socket…)
 * @param upstream - a socket, or a function that opens one (so connect errors and connect
 *   timeouts are part of the lifecycle); it may return a promise.
 * @throws {InvalidOptionError} for a bad option (a `signal` that is not an AbortSignal
 *   too), before any socket is touched.
 *
 * @example
 * ```ts
 * import net from 'node:net';
 * import { forward } from 'proxy-lifecycle';
 *
 * net.createServer({ allowHalfOpen: true }, (client) => {
 *   const conn = forward(client, () => net.connect(5432, 'db.internal'), { gracePeriod: 2000 });
 *   conn.whenClosed().then((info) => console.log(info.reasons));
 * }).listen(6432);
 * ```
 */
export function forward(client: SocketLike, upstream: Upstream, options: ForwardOptions = {}): Connection {
  const [{ signal, ...lifecycle }, env] = resolveEnvironment(options);
  const resolved = resolveOptions(lifecycle);
  const abortSignal = signal === undefined ? undefined : checkSignal('signal', signal);
  const connection = new Connection((standaloneIds ??= new ConnectionIds()).next(), client, upstream, resolved, { ...env, stream: standalone });
  // A connection disposed while being created has nothing left to abort.
  if (abortSignal === undefined || connection.disposed) return connection;
  const unwatch = whenAborted(abortSignal, () => connection.abort());
  // Kept for the subscriber only if its final state is still to come.
  if (!connection.disposed) unwatchers.set(connection, unwatch);
  return connection;
}
