// Which local addresses a listener can be reached on, for the tests that bind one address.
import net from 'node:net';
import os from 'node:os';

/** `null` if a TCP connect to `host:port` succeeds, else the error code (`ECONNREFUSED`, …). */
export function connectErrorAt(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.connect(port, host);
    probe.once('connect', () => {
      probe.destroy();
      resolve(null);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** This machine's first non-loopback IPv4 address, if it has one. */
export function nonLoopbackIPv4(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * The addresses of this machine, other than `bound`, that a listener on `bound` alone must
 * refuse: 127.0.0.2 (loopback too on Linux, where all of 127.0.0.0/8 is local) or 127.0.0.1,
 * and the non-loopback IPv4 address if there is one.
 */
export function otherLocalAddresses(bound: string): string[] {
  const others = [bound === '127.0.0.2' ? '127.0.0.1' : '127.0.0.2'];
  const outside = nonLoopbackIPv4();
  if (outside !== undefined && outside !== bound) others.push(outside);
  return others;
}
