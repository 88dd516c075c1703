/**
 * A local relay for the Stately inspector: `@statelyai/inspect`'s WebSocket server, plus the
 * WebSocket inspector whose observer a Supervisor's `inspect` option takes. The package is an
 * optional peer dependency, loaded only when this is called.
 */
import net from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';

/** Options of {@link startInspectorServer}. */
export interface InspectorServerOptions {
  /** Port of the relay (HTTP page + WebSocket). Default 0: a free port. */
  port?: number;
  /** Open the inspector page in the default browser. Default false. */
  open?: boolean;
  /** The inspector UI the relay page embeds. Default `@statelyai/inspect`'s (https://stately.ai/inspect). */
  inspectorUrl?: string;
  /** Inspection events held while the relay connection opens; older ones are dropped. Default 1000. */
  maxDeferredEvents?: number;
  /** How long to wait for the relay to accept connections, in ms. Default 5000. */
  startTimeout?: number;
}

/** A running relay. */
export interface InspectorServer {
  /** The page to open in a browser: it embeds the inspector UI and feeds it the events. */
  url: string;
  /** The relay's WebSocket address (what inspectors send to and viewers read from). */
  wsUrl: string;
  port: number;
  /** Pass as the Supervisor's `inspect.observer`. */
  observer: Observer<InspectionEvent>;
  /** Stops the inspector and the relay. Viewers still connected are the relay's to drop. */
  close(): Promise<void>;
}

/** The relay's listening port must be checked by us: it has no error handler of its own. */
function probePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    // Unspecified address, as the relay listens: a port taken on any interface is taken.
    server.listen(port, () => {
      const chosen = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(chosen));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`inspector: timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Starts `@statelyai/inspect`'s local relay server on `port` and connects a WebSocket
 * inspector to it. Resolves once the inspector's connection is open, so no event is lost
 * and `close()` never races a connect.
 *
 * @example
 * ```ts
 * const inspector = await startInspectorServer({ port: 4242 });
 * const supervisor = new Supervisor({ inspect: { observer: inspector.observer, select: (id) => id % 100 === 1 } });
 * console.log(`inspect at ${inspector.url}`);
 * ```
 * @throws if `@statelyai/inspect` is not installed, or the port is in use.
 */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<InspectorServer> {
  const bound = options.startTimeout ?? 5000;
  let server: typeof import('@statelyai/inspect/server');
  let client: typeof import('@statelyai/inspect');
  try {
    [server, client] = await Promise.all([import('@statelyai/inspect/server'), import('@statelyai/inspect')]);
  } catch (err) {
    throw new Error('inspector: the optional peer dependency @statelyai/inspect is not installed (npm i -D @statelyai/inspect)', {
      cause: err,
    });
  }
  // The relay cannot listen on port 0 (its page embeds the port) and throws asynchronously
  // on a port in use, so the port is chosen and checked here first.
  const port = await probePort(options.port ?? 0);
  const relay = server.createInspectorServer({
    port,
    autoOpen: options.open ?? false,
    ...(options.inspectorUrl === undefined ? {} : { url: options.inspectorUrl }),
  });
  const wsUrl = `ws://127.0.0.1:${port}`;
  let inspector: ReturnType<typeof client.createWebSocketInspector> | undefined;
  try {
    await waitFor('the relay to listen', bound, () => canConnect(port));
    // Connecting before the relay listens would make the adapter retry every 5 s, forever.
    inspector = client.createWebSocketInspector({ url: wsUrl, maxDeferredEvents: options.maxDeferredEvents ?? 1000 });
    // The adapter keeps its state private; stopping it while it still connects would make it
    // retry, so wait for it to open (when a future version hides the state, skip the wait).
    const adapter = inspector.adapter as unknown as { status?: string };
    await waitFor('the inspector to connect', bound, () => adapter.status === undefined || adapter.status === 'open');
  } catch (err) {
    inspector?.stop();
    relay.stop();
    throw err;
  }
  const active = inspector;
  let closed = false;
  return {
    url: `http://localhost:${port}`,
    wsUrl,
    port,
    observer: active.inspect,
    async close() {
      if (closed) return;
      closed = true;
      // The inspector converts events on a zero-delay timer: let the last ones go out first.
      await sleep(0);
      active.stop();
      relay.stop();
    },
  };
}
