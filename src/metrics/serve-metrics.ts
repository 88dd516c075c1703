/**
 * A tiny HTTP endpoint for Prometheus to scrape: `GET /metrics`, nothing else.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a registry must offer to be served: `prom-client`'s `Registry` does. */
export interface ScrapeSource {
  metrics(): Promise<string> | string;
  readonly contentType: string;
}

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** Default `127.0.0.1`; `0.0.0.0` or `::` for every interface. */
  host?: string;
  /** Default 9464 (the OpenTelemetry Prometheus exporter's); 0 picks a free port. */
  port?: number;
  /** Default `/metrics`. */
  path?: string;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** `http://HOST:PORT/metrics`, with the port actually bound. */
  url: string;
  port: number;
  /** Stops listening and drops open scrape connections. */
  close(): Promise<void>;
}

/**
 * Serves `register` at `http://HOST:PORT/metrics` with `node:http`.
 *
 * @example
 * ```ts
 * const { register } = await collectMetrics(supervisor);
 * const server = await serveMetrics(register, { host: '0.0.0.0', port: 9464 });
 * ```
 * @throws (rejects) when the address cannot be bound, e.g. `EADDRINUSE`.
 */
export async function serveMetrics(register: ScrapeSource, options: ServeMetricsOptions = {}): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found; metrics are at ${path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    Promise.resolve()
      .then(() => register.metrics())
      .then(
        (body) => {
          res.writeHead(200, { 'content-type': register.contentType });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${String(err)}\n`);
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${path}`,
    port,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
