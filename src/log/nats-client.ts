/**
 * Loads nats.js (`@nats-io/transport-node`, `@nats-io/jetstream`) when a JetStream sink or
 * reader is created, not when the library is imported: a proxy that logs to files never loads it.
 */
import type * as Transport from '@nats-io/transport-node';
import type * as JetStream from '@nats-io/jetstream';
import { InvalidOptionError } from '../errors.js';
import { show } from '../validate.js';

/** The parts of nats.js the sink and the reader use. */
export interface NatsModules {
  transport: typeof Transport;
  jetstream: typeof JetStream;
}

let loaded: Promise<NatsModules> | null = null;

/** nats.js, imported once. Rejects with an error saying what to install. */
export function loadNats(): Promise<NatsModules> {
  loaded ??= Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]).then(
    ([transport, jetstream]) => ({ transport, jetstream }),
    (err: Error) => {
      loaded = null;
      throw new Error(`JetStream: nats.js could not be loaded (${err.message}); reinstall proxy-lifecycle`, { cause: err });
    },
  );
  return loaded;
}

/**
 * Servers as nats.js takes them, checked: a `host:port`, a `nats://` URL, or a list of them.
 *
 * @throws {InvalidOptionError} naming `servers`.
 */
export function checkServers(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.trim() !== '')) {
    throw new InvalidOptionError('servers', `servers must be a host:port or nats:// URL, or a non-empty list of them, got ${Array.isArray(value) ? 'a list of ' + value.map(show).join(', ') : show(value)}`);
  }
  return list as string[];
}
