// Preloaded into the Node proxies for the idle-memory workload only
// (`node --expose-gc --require bench/proxies/gc-on-signal.cjs ...`): on SIGURG the process
// runs a full garbage collection, so the RSS readings before and after opening the idle
// connections count live memory, not garbage that happened to be uncollected. SIGURG is
// ignored by default, so nothing happens if this file is not loaded.
'use strict';
if (typeof globalThis.gc === 'function') process.on('SIGURG', () => globalThis.gc());
