// Worker thread for test/machine-graph.test.ts: analyzes the option combinations it is sent.
// Plain JS so that it starts without a loader; it registers tsx, then loads the TypeScript.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { analyzeCombo } = await import('./graph-combo.ts');

parentPort.on('message', (combo) => {
  try {
    parentPort.postMessage({ name: combo.name, report: analyzeCombo(combo) });
  } catch (err) {
    parentPort.postMessage({ name: combo.name, error: String(err && err.stack ? err.stack : err) });
  }
});
