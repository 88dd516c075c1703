/**
 * The inspector relay, served here on `ws` instead of `@statelyai/inspect`'s
 * `createInspectorServer`, which listens on every interface and cannot be told otherwise
 * (its dist/server.mjs calls `httpServer.listen(port)`). The protocol is the same: an HTTP
 * page for the browser ({@link relayPageHtml}) and, on the same port, a WebSocket where each
 * text message a client sends goes to every other open client, the last 200 kept for
 * clients that connect later.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type * as Ws from 'ws';
import { relayPageHtml } from './relay-page.js';
import { isLoopbackName, isTrustedUpgrade } from './trusted-upgrade.js';

/** Messages kept for a viewer that connects late, as `@statelyai/inspect`'s relay keeps. */
const REPLAYED = 200;
/** How long close() waits for viewers to answer the close frame before cutting them off. */
const CLOSE_WAIT_MS = 1000;

/** Options of {@link startInspectorRelay}. */
export interface InspectorRelayOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The inspector UI the page embeds. */
  inspectorUrl: string;
}

/** A listening relay. */
export interface InspectorRelay {
  /** The address it is bound to, as `server.address()` tells. */
  readonly address: AddressInfo;
  /** A local address to reach it at: the bound one, or loopback when bound to every interface. */
  readonly localHost: string;
  /** Stops listening and drops every client. */
  close(): Promise<void>;
}

/**
 * Serves the relay on `host:port` with `ws` (the module passed in, loaded by the caller as an
 * optional peer). Rejects when the address cannot be bound (`EADDRINUSE`, `EADDRNOTAVAIL`, …).
 */
export async function startInspectorRelay(ws: typeof Ws, options: InspectorRelayOptions): Promise<InspectorRelay> {
  const page = relayPageHtml(options.inspectorUrl);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  const wss = new ws.WebSocketServer({ noServer: true });
  const replay: string[] = [];
  let loopback = false;
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (!isTrustedUpgrade(req.headers, options.host, loopback)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
  });
  wss.on('connection', (client: Ws.WebSocket) => {
    // A client that breaks the protocol is dropped by ws; without a listener the error would
    // be thrown (the original relay has none: one bad frame ends the process).
    client.on('error', () => {});
    for (const message of replay) client.send(message);
    client.on('message', (data) => {
      const message = String(data);
      replay.push(message);
      if (replay.length > REPLAYED) replay.shift();
      for (const other of wss.clients) if (other !== client && other.readyState === ws.WebSocket.OPEN) other.send(message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  loopback = isLoopbackName(address.address);
  const localHost = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  let closing: Promise<void> | undefined;
  return {
    address,
    localHost,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const client of wss.clients) client.close(1001, 'inspector stopped');
        const cut = setTimeout(() => {
          for (const client of wss.clients) client.terminate();
        }, CLOSE_WAIT_MS);
        wss.close(() => clearTimeout(cut));
      });
      return closing;
    },
  };
}
