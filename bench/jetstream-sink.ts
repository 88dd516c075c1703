/**
 * JetStreamSink throughput on loopback: how long write() takes on the data path (it only
 * serializes and spools), and how many records per second a real nats-server (file store)
 * acknowledges. `node --import tsx bench/jetstream-sink.ts [records]`; needs nats-server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamSink, type LogRecord } from '../src/index.js';

const total = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'pl-bench-nats-'));
const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const server = spawn('nats-server', ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
for (;;) {
  const ok = await new Promise<boolean>((resolve) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
  if (ok) break;
  await new Promise((r) => setTimeout(r, 50));
}
try {
  for (const maxInFlight of [64, 256, 1024]) {
    const stream = `BENCH${maxInFlight}`;
    const sink = new JetStreamSink({ servers: `127.0.0.1:${port}`, stream, instance: 'bench', maxInFlight, maxRecords: total + 1 });
    while (!sink.up) {
      sink.write({ t: 0, conn: 'warm', seq: 0, kind: 'event', event: { type: 'CONNECTED' } } as unknown as LogRecord);
      await sink.flush();
    }
    const records: LogRecord[] = [];
    for (let i = 0; i < total; i++) records.push({ t: Date.now(), conn: `bench-1-${i % 1000}`, seq: i, kind: 'event', event: { type: 'ACTIVITY', clientToServer: i, serverToClient: i, idleMs: 0 } } as unknown as LogRecord);
    const start = process.hrtime.bigint();
    for (const r of records) sink.write(r);
    const written = process.hrtime.bigint();
    await sink.flush();
    const done = process.hrtime.bigint();
    const writeNs = Number(written - start) / total;
    const s = Number(done - start) / 1e9;
    console.log(`maxInFlight ${maxInFlight}: write() ${writeNs.toFixed(0)} ns/record; ${total} acked in ${s.toFixed(2)} s = ${Math.round(total / s)} records/s; dropped ${sink.dropped}`);
    await sink.close();
  }
} finally {
  // The server writes its store until it is gone: remove the folder after it exits.
  await new Promise((resolve) => {
    server.once('exit', resolve);
    server.kill('SIGTERM');
  });
  rmSync(dir, { recursive: true, force: true });
}
