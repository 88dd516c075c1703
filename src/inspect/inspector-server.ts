/**
 * The Stately inspector for a Supervisor's inspected connections: a local relay (an HTTP page
 * that embeds the Stately inspector UI, plus a WebSocket, on one address), and the WebSocket
 * inspector of `@statelyai/inspect` whose observer a Supervisor's `inspect` option takes. The
 * relay is served on `ws` ({@link startInspectorRelay}). Both packages are optional peer
 * dependencies, loaded only when this is called.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { startInspectorRelay } from './inspector-relay.js';
import { openBrowser } from './open-browser.js';

/** Options of {@link startInspectorServer}. */
export interface InspectorServerOptions {
  /**
   * Address the relay (HTTP page + WebSocket) listens on. Default `127.0.0.1`: the relay shows
   * every inspected connection's data to whoever connects, so widen it (`0.0.0.0`, `::`, an
   * interface's address) only to a trusted network.
   */
  host?: string;
  /** Port of the relay. Default 0: a free port. */
  port?: number;
  /** Open the inspector page in the default browser. Default false. */
  open?: boolean;
  /** The inspector UI the relay page embeds. Default `@statelyai/inspect`'s (https://stately.ai/inspect). */
  inspectorUrl?: string;
  /** Inspection events held while the relay connection opens; older ones are dropped. Default 1000. */
  maxDeferredEvents?: number;
  /** How long to wait for the inspector's connection to the relay to open, in ms. Default 5000. */
  startTimeout?: number;
}

/** A running relay. */
export interface InspectorServer {
  /** The page to open in a browser (`http://HOST:PORT`): it embeds the inspector UI and feeds it the events. */
  url: string;
  /** The relay's WebSocket address, `ws://HOST:PORT` (what inspectors send to and viewers read from). */
  wsUrl: string;
  /** The host it was given (`127.0.0.1` by default), as in `url`. */
  host: string;
  /** The port actually bound. */
  port: number;
  /** Pass as the Supervisor's `inspect.observer`. */
  observer: Observer<InspectionEvent>;
  /** Stops the inspector and the relay, and drops the viewers still connected. Safe to call twice. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, ms: number, check: () => boolean): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`inspector: timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** `[::1]` for an IPv6 address in a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

type Peers = [typeof import('@statelyai/inspect'), typeof import('ws')];

/** Loads the optional peers, or fails with one error that names those missing. */
async function loadPeers(): Promise<Peers> {
  const names = ['@statelyai/inspect', 'ws'];
  const loaded = await Promise.allSettled([import('@statelyai/inspect'), import('ws')]);
  const missing = names.filter((_, i) => loaded[i]!.status === 'rejected');
  if (missing.length === 0) return loaded.map((r) => (r as PromiseFulfilledResult<unknown>).value) as Peers;
  const what = missing.length === 1 ? `the optional peer dependency ${missing[0]} is` : `the optional peer dependencies ${missing.join(' and ')} are`;
  const cause = (loaded.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as unknown;
  throw new Error(`inspector: ${what} not installed (npm i -D ${missing.join(' ')})`, { cause });
}

/**
 * Starts a local relay for the Stately inspector on `host:port` (127.0.0.1 and a free port by
 * default) and connects `@statelyai/inspect`'s WebSocket inspector to it. Resolves once the
 * inspector's connection is open, so no event is lost and `close()` never races a connect.
 *
 * The relay passes every inspected connection's data (addresses, bytes, states, timings) to
 * whoever opens its WebSocket: keep it on loopback or a trusted network. Browser pages of
 * other sites are refused (by `Origin`, and by `Host` while bound to loopback).
 *
 * @example
 * ```ts
 * const inspector = await startInspectorServer({ port: 4242 });
 * const supervisor = new Supervisor({ inspect: { observer: inspector.observer, select: (id) => id % 100 === 1 } });
 * console.log(`inspect at ${inspector.url}`);
 * ```
 * @throws if `@statelyai/inspect` or `ws` is not installed, or the address cannot be bound
 *   (the error's `code`: `EADDRINUSE`, `EADDRNOTAVAIL`, …).
 */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<InspectorServer> {
  const bound = options.startTimeout ?? 5000;
  const host = options.host ?? '127.0.0.1';
  const [client, ws] = await loadPeers();
  const relay = await startInspectorRelay(ws, {
    host,
    port: options.port ?? 0,
    inspectorUrl: options.inspectorUrl ?? 'https://stately.ai/inspect',
  });
  const port = relay.address.port;
  const url = `http://${urlHost(host)}:${port}`;
  let inspector: ReturnType<typeof client.createWebSocketInspector> | undefined;
  try {
    // The relay listens already: the adapter connects at once (it would retry every 5 s).
    inspector = client.createWebSocketInspector({
      url: `ws://${urlHost(relay.localHost)}:${port}`,
      maxDeferredEvents: options.maxDeferredEvents ?? 1000,
    });
    // The adapter keeps its state private; stopping it while it still connects would make it
    // retry, so wait for it to open (when a future version hides the state, skip the wait).
    const adapter = inspector.adapter as unknown as { status?: string };
    await waitFor('the inspector to connect', bound, () => adapter.status === undefined || adapter.status === 'open');
  } catch (err) {
    inspector?.stop();
    await relay.close();
    throw err;
  }
  if (options.open === true) openBrowser(url);
  const active = inspector;
  let closed = false;
  return {
    url,
    wsUrl: `ws://${urlHost(host)}:${port}`,
    host,
    port,
    observer: active.inspect,
    async close() {
      if (closed) return;
      closed = true;
      // The inspector converts events on a zero-delay timer: let the last ones go out first.
      await sleep(0);
      active.stop();
      await relay.close();
    },
  };
}
