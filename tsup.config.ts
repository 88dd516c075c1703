import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

// Baked into the CLI at build time: `--version` then needs no file lookup at run time.
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig([
  {
    entry: { index: 'src/index.ts', machines: 'machines/index.ts' },
    format: ['esm', 'cjs'],
    // `@internal` members (the Connection's symbol-keyed counters and callbacks) stay out of the
    // declarations users see.
    dts: { compilerOptions: { stripInternal: true } },
    clean: true,
    sourcemap: true,
    target: 'node20',
  },
  {
    // The command-line proxy: one ESM file with a shebang, run as `proxy-lifecycle`.
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    define: { PACKAGE_VERSION: JSON.stringify(version) },
  },
]);
