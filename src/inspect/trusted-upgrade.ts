/**
 * Who may open a WebSocket on the inspector relay. The relay passes on every inspected
 * connection's data, and binding it to loopback keeps other machines out but not the web
 * pages in the local browser: a page of any site can open a WebSocket to 127.0.0.1 (browsers
 * apply no same-origin rule to WebSockets), directly or through a name of its own that it
 * rebinds to 127.0.0.1 (DNS rebinding). Both are told by the request's headers.
 */
import net from 'node:net';

/** The headers the check reads. */
export interface UpgradeHeaders {
  readonly host?: string;
  readonly origin?: string;
}

/** `host` and `hostname` of a URL, normalized (lower case, default port dropped); undefined if malformed. */
function parse(url: string): { host: string; hostname: string } | undefined {
  try {
    const { host, hostname } = new URL(url);
    return { host, hostname: hostname.replace(/^\[(.*)\]$/, '$1') };
  } catch {
    return undefined;
  }
}

/**
 * Whether `name` can only mean this machine: `localhost` (and `*.localhost`, RFC 6761) or a
 * loopback address (127.0.0.0/8, also IPv4-mapped, and ::1).
 */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const ipv4 = name.startsWith('::ffff:') ? name.slice(7) : name;
  if (net.isIPv4(ipv4)) return ipv4.startsWith('127.');
  return name === '::1';
}

/**
 * Whether a WebSocket upgrade may join the relay.
 *
 * - A browser sends `Origin`: it must be the relay's own page (same host and port as the
 *   request's `Host`), which keeps out other sites' pages. Clients outside a browser (the
 *   inspector, `ws`) send no `Origin`.
 * - When the relay is bound to a loopback address, `Host` must be a loopback name or the host
 *   the relay was given, which keeps out a page that reached it through a rebound name.
 *
 * @param given the host the relay was asked to bind (`127.0.0.1`, a host name, `0.0.0.0`)
 * @param loopback whether the bound address is a loopback address
 */
export function isTrustedUpgrade(headers: UpgradeHeaders, given: string, loopback: boolean): boolean {
  const request = headers.host === undefined ? undefined : parse(`http://${headers.host}`);
  if (request === undefined) return false;
  if (headers.origin !== undefined && parse(headers.origin)?.host !== request.host) return false;
  if (!loopback) return true;
  return isLoopbackName(request.hostname) || request.hostname === given.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}
