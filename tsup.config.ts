import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

// Baked into the CLI at build time: `--version` then needs no file lookup at run time.
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// Source maps for development only (coverage of the CLI's child processes, stack traces):
// the package ships dist/ without src/, so a map in it would point to missing files. `npm
// pack` and `npm publish` build through `prepack`, without them.
const sourcemap = process.env.npm_lifecycle_event !== 'prepack';

export default defineConfig([
  {
    entry: { index: 'src/index.ts', machines: 'machines/index.ts' },
    format: ['esm', 'cjs'],
    // `@internal` members (the Connection's symbol-keyed counters and callbacks) stay out of the
    // declarations users see.
    dts: { compilerOptions: { stripInternal: true } },
    clean: true,
    sourcemap,
    target: 'node20',
  },
  {
    // The command-line proxy: one ESM file with a shebang, run as `proxy-lifecycle`.
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    define: { PACKAGE_VERSION: JSON.stringify(version) },
  },
]);
