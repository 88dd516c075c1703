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

/** `host:port`, as logs and refusals name a client (`:0` when the port is unknown). */
export function hostPort(address: string, port: number | undefined): string {
  return `${address}:${port ?? 0}`;
}

/** A socket's (or a `'drop'`'s) remote end as `host:port`; undefined when the address is unknown. */
export function peerName(end: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | undefined {
  return end.remoteAddress === undefined ? undefined : hostPort(end.remoteAddress, end.remotePort);
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
