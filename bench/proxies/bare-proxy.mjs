#!/usr/bin/env node
// The Node floor: the least a correct Node TCP proxy does. Both sockets half-open, pipe()
// both ways (backpressure and FIN forwarding come from streams), and an error on one side
// destroys the other so a reset never leaks the peer. No timers, no bookkeeping.
//
//   node bench/proxies/bare-proxy.mjs --listen 127.0.0.1:0 --target 127.0.0.1:9000 [--max-connections N] [--access-log FILE]
// prints `listening on HOST:PORT` once it accepts, exits on SIGTERM/SIGINT. `--max-connections`
// is Node's own limit (server.maxConnections: a connection over it is closed as it is
// accepted), the reference for what a refusal costs. `--access-log` (the bare-node-log row)
// adds what any proxy with an access log pays, and nothing of a lifecycle: the client's address
// read at accept (getpeername), a 'close' listener on each socket, and one line per connection
// with its bytes and duration, through the package's LineWriter, as `forward` writes its own.
import net from 'node:net';

function flag(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`bare-proxy: missing --${name} HOST:PORT`);
    process.exit(2);
  }
  const value = process.argv[i + 1];
  const colon = value.lastIndexOf(':');
  return { host: value.slice(0, colon) || '127.0.0.1', port: Number(value.slice(colon + 1)) };
}

const listen = flag('listen');
const target = flag('target');
const maxAt = process.argv.indexOf('--max-connections');
const maxConnections = maxAt < 0 ? null : Number(process.argv[maxAt + 1]);
if (maxConnections !== null && !(Number.isInteger(maxConnections) && maxConnections >= 1)) {
  console.error(`bare-proxy: --max-connections must be a whole number from 1 up, got ${process.argv[maxAt + 1]}`);
  process.exit(2);
}

const logAt = process.argv.indexOf('--access-log');
const accessLog = logAt < 0 ? null : process.argv[logAt + 1];
if (accessLog === undefined) {
  console.error('bare-proxy: --access-log needs a FILE');
  process.exit(2);
}
// Imported only for the logging row: the plain one loads nothing but node:net.
const writer = accessLog === null ? null : new (await import('../../dist/index.js')).LineWriter({ dest: accessLog, minLength: 8 * 1024 });
let connections = 0;

function logged(client, upstream) {
  const from = `${client.remoteAddress}:${client.remotePort}`;
  const id = ++connections;
  const started = Date.now();
  let open = 2;
  const onClose = () => {
    if (--open > 0) return;
    writer.write(`conn=${id} from=${from} duration_ms=${Date.now() - started} c2s_bytes=${client.bytesRead} s2c_bytes=${upstream.bytesRead}`);
  };
  client.on('close', onClose);
  upstream.on('close', onClose);
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  if (writer !== null) logged(client, upstream);
  client.pipe(upstream);
  upstream.pipe(client);
});

if (maxConnections !== null) server.maxConnections = maxConnections;

server.listen({ host: listen.host, port: listen.port, backlog: 4096 }, () => {
  const { address, port } = server.address();
  console.log(`listening on ${address}:${port}`);
});

const stop = () => {
  if (writer === null) process.exit(0);
  // What the log holds is written before the exit, as `forward` does on its way out.
  void writer.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
