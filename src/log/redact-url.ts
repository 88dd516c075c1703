/**
 * Keeps NATS credentials out of messages: a server URL's `user:pass@` (or `token@`), and the
 * passwords and tokens a sink was given, are cut out of any text before it is emitted, logged
 * or thrown. nats.js's own messages name servers by `host:port` today; this does not rely on it.
 */

/** `scheme://userinfo@`: the userinfo of a URL (anything up to the first `@` before the host's `/`, space or quote). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"`]+@/gi;

/** Known secrets shorter than this are not searched for bare (a one-letter password would cut letters out of every word); in URLs they are cut all the same. */
const MIN_BARE_SECRET = 4;

/** `text` with every URL's credentials removed: `nats://alice:s3cr3t@host:4222` → `nats://host:4222`. */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, '$1');
}

/**
 * The secrets in `servers` (each URL's password, or its lone user name, which NATS reads as a
 * token) and in nats.js options (`pass`, `token`), decoded and as written.
 */
export function secretsOf(servers: readonly string[], natsOptions: Readonly<Record<string, unknown>> = {}): string[] {
  const found = new Set<string>();
  const add = (s: unknown) => {
    if (typeof s !== 'string' || s === '') return;
    found.add(s);
    try {
      found.add(decodeURIComponent(s));
    } catch {
      // Not percent-encoded: the text as written is enough.
    }
  };
  for (const server of servers) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)@/i.exec(server.trim()) ?? /^([^/?#@]+)@/.exec(server.trim());
    if (m === null) continue;
    const colon = m[1]!.indexOf(':');
    add(colon === -1 ? m[1] : m[1]!.slice(colon + 1));
  }
  add(natsOptions.pass);
  add(natsOptions.token);
  return [...found];
}

/** `text` without URL credentials, and with each of `secrets` (those long enough) replaced by `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = redactUrls(text);
  for (const s of secrets) if (s.length >= MIN_BARE_SECRET) out = out.replaceAll(s, '***');
  return out;
}

/**
 * `err` when its message (and its causes') hold no credential; else a plain `Error` with the
 * redacted message, the same `name` and `code`, and its cause redacted the same way.
 */
export function redactError(err: Error, secrets: readonly string[] = [], depth = 0): Error {
  const message = redact(err.message, secrets);
  const cause = (err as { cause?: unknown }).cause;
  const safeCause = cause instanceof Error && depth < 4 ? redactError(cause, secrets, depth + 1) : cause;
  if (message === err.message && safeCause === cause) return err;
  const copy = new Error(message, safeCause === undefined ? undefined : { cause: safeCause });
  copy.name = err.name;
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) (copy as Error & { code?: unknown }).code = code;
  return copy;
}
