import type { EventEmitter } from 'eventemitter3';
import type { LineWriterEvents } from '../index.js';

/** Prints a notice: its event name and fields (for `--json`), and its text. */
export type Notify = (event: string, fields: Record<string, unknown>, text: string) => void;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Says once when the sink `name` (`access log FILE`, `--log FILE`) starts failing, and once
 * when it works again with what the outage cost: one line per outage, never one per record.
 * Returns the function that stops listening.
 */
export function reportSinkHealth(name: string, sink: EventEmitter<LineWriterEvents>, notify: Notify): () => void {
  const onError = (err: NodeJS.ErrnoException) => {
    const code = err.code ?? 'error';
    notify(
      'sink_failed',
      { sink: name, code, error: err.message },
      `${name}: write failed (${err.message}); lines wait in memory up to 4 MiB, then are dropped and counted, until it works again (SIGHUP reopens it)`,
    );
  };
  const onRecover = (outage: { failures: number; dropped: number }) =>
    notify(
      'sink_recovered',
      { sink: name, failed_writes: outage.failures, dropped: outage.dropped },
      `${name}: writing again after ${plural(outage.failures, 'failed write')}; ${plural(outage.dropped, 'line')} dropped`,
    );
  sink.on('error', onError);
  sink.on('recover', onRecover);
  return () => {
    sink.off('error', onError);
    sink.off('recover', onRecover);
  };
}
