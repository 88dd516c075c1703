/**
 * The engine alone: CPU per connection lifecycle through a `Supervisor` with its defaults, on
 * stub sockets instead of TCP, so that what is measured is the machine, its timers, the
 * binding's handlers and the close record, without the kernel's or `net.Socket`'s share (which
 * bare Node pays too). The short workload's lifecycle, 32 connections at a time: accept,
 * connect, 64 bytes each way, the client's FIN, the server's FIN, both closed. A loopback run
 * varies by 10-20 % a repeat on this machine; this one by a few, so an engine change shows here
 * first. `--profile` writes a .cpuprofile to bench/results/profiles/.
 *
 *   node --import tsx bench/engine.ts [connections=200000] [--profile]
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { Supervisor, type SocketLike } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { ROOT } from './lib/proxies.js';

/**
 * What the binding uses of a socket. Its writes complete at once; its 'finish' and 'close'
 * come a microtask later, as Node's come after the call.
 */
class StubSocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  connecting = false;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;

  write(): boolean {
    return true;
  }

  end(): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    queueMicrotask(() => this.emit('finish'));
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close', false));
    return this;
  }

  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }
}

const args = process.argv.slice(2);
const profile = args.includes('--profile');
const total = Number(args.find((a) => !a.startsWith('--')) ?? 200_000);
const AT_ONCE = 32;
const WARMUP = 20_000;
const CHUNK = Buffer.alloc(64, 0x61);

const supervisor = new Supervisor();
const codes = new Map<string, number>();
supervisor.on('close', (info) => codes.set(info.code, (codes.get(info.code) ?? 0) + 1));

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One batch of connections through the whole lifecycle, phase by phase; resolves with its sockets. */
async function batch(n: number): Promise<StubSocket[]> {
  const clients: StubSocket[] = [];
  const servers: StubSocket[] = [];
  for (let i = 0; i < n; i++) {
    const client = new StubSocket();
    clients.push(client);
    void supervisor.accept(client as unknown as SocketLike, () => {
      const server = new StubSocket();
      server.connecting = true;
      servers.push(server);
      return server as unknown as SocketLike;
    });
  }
  for (const server of servers) {
    server.connecting = false;
    server.emit('connect');
  }
  for (let i = 0; i < n; i++) {
    clients[i]!.emit('data', CHUNK);
    servers[i]!.emit('data', CHUNK);
  }
  for (const client of clients) client.emit('end');
  await turn();
  for (const server of servers) server.emit('end');
  await turn();
  // Both FINs sent and seen: Node's sockets close themselves here.
  for (let i = 0; i < n; i++) {
    clients[i]!.destroy();
    servers[i]!.destroy();
  }
  await turn();
  return [...clients, ...servers];
}

/** Runs `n` lifecycles; resolves with the last batch's sockets. */
async function run(n: number): Promise<StubSocket[]> {
  let last: StubSocket[] = [];
  for (let done = 0; done < n; done += AT_ONCE) last = await batch(Math.min(AT_ONCE, n - done));
  return last;
}

await run(WARMUP);
codes.clear();
let session: Session | null = null;
const post = (method: string) => new Promise<unknown>((resolve, reject) => session!.post(method, (err, result) => (err ? reject(err) : resolve(result))));
if (profile) {
  session = new Session();
  session.connect();
  await post('Profiler.enable');
  await post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
const lastBatch = await run(total);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - wall0;
// Checked after the clock stopped: every handler the binding attached is gone.
const leftListeners = lastBatch.reduce((n, socket) => n + boundListenerCount(socket as unknown as SocketLike), 0);
if (session !== null) {
  const { profile: result } = (await post('Profiler.stop')) as { profile: unknown };
  const dir = join(ROOT, 'bench', 'results', 'profiles');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `engine-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(result));
  console.log(`profile: ${file} (node bench/profile-summary.mjs ${file})`);
}

// The run counts only if every connection closed as the same lifecycle through `forward` does
// (the client's FIN first, code CO) and left no listener behind.
const closed = [...codes.values()].reduce((a, b) => a + b, 0);
const ok = closed === total && codes.get('CO') === total && supervisor.stats.active === 0 && leftListeners === 0;
console.log(
  `engine: ${((cpu.user + cpu.system) / total).toFixed(2)} us CPU per connection lifecycle ` +
    `(${total} connections, ${AT_ONCE} at a time; wall ${((wallMs * 1000) / total).toFixed(2)} us), ` +
    `closed ${closed}: ${JSON.stringify(Object.fromEntries(codes))}, active ${supervisor.stats.active}, listeners left ${leftListeners}`,
);
await supervisor.shutdown({ timeout: 1000 });
if (!ok) {
  console.error('engine: not every connection closed with code CO and without a listener left: the figure above is not a lifecycle cost');
  process.exit(1);
}
