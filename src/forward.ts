import { Connection } from './binding/connection.js';
import type { SocketLike, Upstream } from './binding/socket-like.js';
import { resolveEnvironment, resolveOptions, type EnvironmentOptions, type LifecycleOptions } from './options.js';

/** Options of {@link forward}: lifecycle options plus where time and the log come from. */
export interface ForwardOptions extends LifecycleOptions, EnvironmentOptions {}

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
 * @throws {InvalidOptionError} for a bad option, before any socket is touched.
 *
 * @example
 * ```ts
 * import net from 'node:net';
 * import { forward } from 'proxy-lifecycle';
 *
 * net.createServer({ allowHalfOpen: true }, (client) => {
 *   const conn = forward(client, () => net.connect(5432, 'db.internal'), { gracePeriod: 2000 });
 *   conn.closed.then((info) => console.log(info.reasons));
 * }).listen(6432);
 * ```
 */
export function forward(client: SocketLike, upstream: Upstream, options: ForwardOptions = {}): Connection {
  const [lifecycle, env] = resolveEnvironment(options);
  return new Connection(++standaloneId, client, upstream, resolveOptions(lifecycle), env);
}
