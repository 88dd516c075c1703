/**
 * The PROXY header a proxy sends its upstream for one client (`sendProxy`): who the client is
 * and where it connected to, from the client's own PROXY header when it came with one.
 */
import type { SocketLike } from '../binding/socket-like.js';
import { InvalidOptionError } from '../errors.js';
import { encodeProxyHeader } from './proxy-header-encoder.js';
import type { ProxyAddress, ProxyProtocolVersion } from './proxy-header.js';
import { normalizeAddress } from './ip-address.js';

function socketEnd(address: string | undefined, port: number | undefined): ProxyAddress | undefined {
  return address === undefined || port === undefined ? undefined : { address: normalizeAddress(address), port };
}

/**
 * The header for `client`: `source` (a received header's) or else the socket's remote end,
 * `destination` (a received header's) or else the socket's local end. IPv4-mapped IPv6
 * addresses (a dual-stack listener's) go as IPv4. When an end is unknown or not encodable (a
 * socket that is not TCP, an IPv6 zone), the header says so (v1 `UNKNOWN`, v2 `LOCAL`) rather
 * than failing the connection: the receiver then keeps the proxy's own address.
 */
export function upstreamProxyHeader(version: ProxyProtocolVersion, client: SocketLike, source?: ProxyAddress, destination?: ProxyAddress): Buffer {
  const src = source === undefined ? socketEnd(client.remoteAddress, client.remotePort) : { address: normalizeAddress(source.address), port: source.port };
  const dst = destination === undefined ? socketEnd(client.localAddress, client.localPort) : { address: normalizeAddress(destination.address), port: destination.port };
  if (src === undefined || dst === undefined) return encodeProxyHeader(version);
  try {
    return encodeProxyHeader(version, { source: src, destination: dst });
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    return encodeProxyHeader(version);
  }
}
