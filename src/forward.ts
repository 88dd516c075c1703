import { checkSignal, whenAborted } from './abort-signal.js';
import { Connection } from './binding/connection.js';
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

let standaloneId = 0;

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
  if (signal === undefined) return new Connection(++standaloneId, client, upstream, resolved, env);
  const abortSignal = checkSignal('signal', signal);
  let unwatch: (() => void) | undefined;
  const connection = new Connection(++standaloneId, client, upstream, resolved, { ...env, onDisposed: () => unwatch?.() });
  // A connection disposed while being created has nothing left to abort.
  if (!connection.disposed) unwatch = whenAborted(abortSignal, () => connection.abort());
  return connection;
}
