/**
 * JetStreamSink on loopback against the file sink, in the same run: how long write() takes on
 * the data path (it only serializes and spools), how many records per second a real
 * nats-server (file store) acknowledges, and this process's CPU per record (write to acked)
 * against JsonlSink's (write to flushed), the baseline a `--log FILE` proxy pays.
 * `node --import tsx bench/jetstream-sink.ts [records]`; needs nats-server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamSink, JsonlSink, type LogRecord } from '../src/index.js';

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
const records: LogRecord[] = [];
for (let i = 0; i < total; i++) records.push({ t: Date.now(), conn: `bench-1-${i % 1000}`, seq: i, kind: 'event', event: { type: 'ACTIVITY', clientToServer: i, serverToClient: i, idleMs: 0 } } as unknown as LogRecord);
const cpuUs = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return c.user + c.system;
};
try {
  const file = new JsonlSink(join(dir, 'events.jsonl'));
  const fileStart = process.cpuUsage();
  // In steps: the line writer holds a bounded backlog (past it, it drops and counts).
  for (let i = 0; i < total; i += 1000) {
    for (let j = i; j < Math.min(total, i + 1000); j++) file.write(records[j]!);
    await file.flush();
  }
  const fileUs = cpuUs(fileStart) / total;
  await file.close();
  console.log(`file (JsonlSink): ${fileUs.toFixed(2)} µs CPU/record`);
  for (const maxInFlight of [64, 256, 1024]) {
    const stream = `BENCH${maxInFlight}`;
    const sink = new JetStreamSink({ servers: `127.0.0.1:${port}`, stream, instance: 'bench', maxInFlight, maxRecords: total + 1 });
    while (!sink.up) {
      sink.write({ t: 0, conn: 'warm', seq: 0, kind: 'event', event: { type: 'CONNECTED' } } as unknown as LogRecord);
      await sink.flush();
    }
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (const r of records) sink.write(r);
    const written = process.hrtime.bigint();
    await sink.flush();
    const done = process.hrtime.bigint();
    const us = cpuUs(cpuStart) / total;
    const writeNs = Number(written - start) / total;
    const s = Number(done - start) / 1e9;
    console.log(`maxInFlight ${maxInFlight}: write() ${writeNs.toFixed(0)} ns/record; ${total} acked in ${s.toFixed(2)} s = ${Math.round(total / s)} records/s; ${us.toFixed(2)} µs CPU/record (${(us / fileUs).toFixed(2)}x the file's); dropped ${sink.dropped}`);
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
