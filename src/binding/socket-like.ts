import type { Duplex } from 'node:stream';

/**
 * What the binding needs from a socket: a duplex stream, plus the `net.Socket` extras when
 * present. `net.Socket`, `tls.TLSSocket` and the socket of an HTTP `upgrade` all qualify.
 */
export interface SocketLike extends Duplex {
  connecting?: boolean;
  timeout?: number;
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  setKeepAlive?(enable?: boolean, initialDelay?: number): unknown;
  setNoDelay?(noDelay?: boolean): unknown;
  setTimeout?(ms: number): unknown;
}

/** The upstream of a connection: a socket, or a function that opens one. */
export type Upstream = SocketLike | ((client: SocketLike) => SocketLike | Promise<SocketLike>);

export function isSocketLike(value: unknown): value is SocketLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Duplex).write === 'function' &&
    typeof (value as Duplex).on === 'function' &&
    typeof (value as Duplex).end === 'function' &&
    typeof (value as Duplex).destroy === 'function'
  );
}
