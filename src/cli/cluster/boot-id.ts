/**
 * A worker's boot id: `<primary start time, base 36>w<index>`, and `r<restarts>` after it once
 * the slot was restarted. Distinct for every worker process of one run, and across runs, so
 * that connection ids `<instance>-<boot>-<counter>` never repeat within a shared log.
 */
export function workerBoot(primaryStartMs: number, index: number, restarts: number): string {
  const base = `${primaryStartMs.toString(36)}w${index}`;
  return restarts === 0 ? base : `${base}r${restarts}`;
}
