import { Connection, type ConnectionEnvironment } from './binding/connection.js';
import type { SocketLike, Upstream } from './binding/socket-like.js';
import { systemClock } from './clock.js';
import { checkEnvironment, resolveOptions, splitEnvironment, type EnvironmentOptions, type LifecycleOptions } from './options.js';
import { createTableRuntime } from './runtime/table-runtime.js';

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
 *   conn.whenClosed().then((info) => console.log(info.reasons));
 * }).listen(6432);
 * ```
 */
export function forward(client: SocketLike, upstream: Upstream, options: ForwardOptions = {}): Connection {
  const [lifecycle, envOptions] = splitEnvironment(options);
  const resolved = resolveOptions(lifecycle);
  checkEnvironment(envOptions);
  const env: ConnectionEnvironment = {
    clock: envOptions.clock ?? systemClock,
    log: envOptions.log ?? null,
    runtime: envOptions.runtime ?? createTableRuntime,
    logger: envOptions.logger,
  };
  return new Connection(++standaloneId, client, upstream, resolved, env);
}
