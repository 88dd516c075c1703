import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

// Baked into the CLI at build time: `--version` then needs no file lookup at run time.
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// Source maps for development only (coverage of the CLI's child processes, stack traces):
// the package ships dist/ without src/, so a map in it would point to missing files. `npm
// pack` and `npm publish` build through `prepack`, without them.
const sourcemap = process.env.npm_lifecycle_event !== 'prepack';

// rxjs's exports send the `node` condition to its CommonJS build, which a bundler cannot
// tree-shake (219 modules, every operator); its ES2015 modules can be.
const rxjsAsModules: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'rxjs-as-modules',
  setup(build) {
    // Found as Node would find rxjs, wherever the install put it.
    const esm = join(dirname(createRequire(import.meta.url).resolve('rxjs/package.json')), 'dist/esm/index.js');
    build.onResolve({ filter: /^rxjs$/ }, () => ({ path: esm }));
  },
};

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
    // The CLI carries its pure-JS dependencies, tree-shaken, in one ASCII file with no comments.
    // Loaded from node_modules, rxjs (all of its CommonJS build) and xstate, and the script
    // kept as a two-byte string (two non-ASCII comment characters do that), left an idle proxy
    // 7.5 MB of heap: above V8's 8 MB threshold for incremental marking once it runs, so a bulk
    // transfer, whose read buffers count as external memory, ran 7-15 mark-compacts where bare
    // Node ran none. Bundled: 5.3 MB and none (bulk 0.84x -> 1.10x bare Node's bytes per
    // CPU-second, docs/bench.md). sonic-boom stays external: CommonJS that requires Node's modules.
    noExternal: ['rxjs', 'xstate', 'eventemitter3'],
    esbuildPlugins: [rxjsAsModules],
    minifyWhitespace: true,
    define: { PACKAGE_VERSION: JSON.stringify(version) },
  },
]);
