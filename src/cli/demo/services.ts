import net from 'node:net';

/**
 * The demo's upstream services, behind one loopback port. A client's first line picks one:
 *
 * - `echo`: echoes every byte, and sends FIN after the client's FIN (half-close aware);
 * - `stream COUNT SIZE EVERY`: waits for the request's FIN, then streams COUNT chunks of SIZE
 *   bytes every EVERY ms and ends (a response that continues after the request's FIN);
 * - `slow COUNT SIZE EVERY`: the same stream, started at once (a response in flight);
 * - `reset SIZE`: sends SIZE bytes, then resets the connection when the client answers.
 */
export class DemoServices {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor() {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl === -1) return;
      socket.off('data', onData);
      const [mode = '', ...args] = head.subarray(0, nl).toString().trim().split(/\s+/);
      const rest = head.subarray(nl + 1);
      const n = args.map(Number);
      switch (mode) {
        case 'echo':
          return echo(socket, rest);
        case 'stream':
          // The response starts only once the request is complete: after its FIN.
          socket.resume();
          return void socket.once('end', () => stream(socket, n[0]!, n[1]!, n[2]!));
        case 'slow':
          socket.resume();
          socket.on('end', () => {});
          return stream(socket, n[0]!, n[1]!, n[2]!);
        case 'reset':
          return resetAfterAnswer(socket, n[0]!);
        default:
          socket.end(`unknown service ${JSON.stringify(mode)}\n`);
      }
    };
    socket.on('data', onData);
  }
}

function echo(socket: net.Socket, first: Buffer): void {
  if (first.length > 0) socket.write(first);
  socket.pipe(socket);
}

function stream(socket: net.Socket, count: number, size: number, every: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) return void clearInterval(timer);
    socket.write(Buffer.alloc(size, 0x61 + (sent % 26)));
    if (++sent === count) {
      clearInterval(timer);
      socket.end();
    }
  }, every);
  socket.once('close', () => clearInterval(timer));
}

function resetAfterAnswer(socket: net.Socket, size: number): void {
  socket.write(Buffer.alloc(size, 0x72));
  socket.once('data', () => socket.resetAndDestroy());
}
