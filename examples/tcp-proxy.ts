// A TCP proxy on proxy-lifecycle in a dozen lines.
// Run: node --import tsx examples/tcp-proxy.ts 6432 127.0.0.1:5432
import net from 'node:net';
import { Supervisor } from '../src/index.js';

const [listenPort = '6432', target = '127.0.0.1:5432'] = process.argv.slice(2);
const [host, port] = target.split(':') as [string, string];

const supervisor = new Supervisor({ socketTimeout: 60_000, gracePeriod: 5_000 });
supervisor.on('close', (info) =>
  console.log(`#${info.id} ${info.client} ${info.durationMs}ms c>s ${info.bytes.clientToServer} s>c ${info.bytes.serverToClient} client=${info.reasons.client} server=${info.reasons.server}`),
);

const server = net.createServer({ allowHalfOpen: true }, (client) => {
  supervisor.forward(client, () => net.connect(Number(port), host));
});
server.listen(Number(listenPort), () => console.log(`listening on ${listenPort} -> ${target}`));

process.once('SIGTERM', () => {
  server.close();
  supervisor.shutdown({ timeout: 10_000 }).then(() => process.exit(0));
});
