import { createRequire } from 'node:module';

/** Replaced by tsup's `define` with package.json's version when dist/cli.js is built. */
declare const PACKAGE_VERSION: string | undefined;

/**
 * The package's version, for `proxy-lifecycle --version`. The built binary has it baked in;
 * run from source (tsx), it reads package.json two folders up from this file.
 */
export const VERSION: string =
  typeof PACKAGE_VERSION === 'string' ? PACKAGE_VERSION : (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
