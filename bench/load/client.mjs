// The load generator: one process, driven over IPC by bench/run.ts. Each command runs one
// workload against `port` (a proxy in front of upstream.mjs) and answers with what it saw:
// bytes expected and received, pattern mismatches, errors, connections that never closed.
import net from 'node:net';
// A deterministic PRNG, so a seed gives the same lifecycles every run.
import { prng as rng } from '../../tools/prng.mjs';
import { MODE, PATTERN, PERIOD, chunkMatches, header, writePattern } from './pattern.mjs';

const HOST = '127.0.0.1';

/** Counts received bytes and checks the pattern; `corrupt` once a chunk does not match. */
function receiver(socket) {
  const r = { received: 0, corrupt: false, ended: false };
  socket.on('data', (chunk) => {
    if (!r.corrupt && !chunkMatches(chunk, r.received)) r.corrupt = true;
    r.received += chunk.length;
  });
  socket.on('end', () => (r.ended = true));
  return r;
}

/**
 * One connection, run to its 'close' (or to `deadlineMs`, then counted as hung and destroyed).
 * `script(socket, rx)` drives it; resolves with { error, hung, received, corrupt, ended }.
 */
function connection(port, deadlineMs, script, { writesAfterFin = false } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port, allowHalfOpen: true, noDelay: true });
    const rx = receiver(socket);
    let error = null;
    let hung = false;
    socket.on('error', (err) => (error ??= err.code ?? err.name));
    // Answer the peer's FIN with ours, unless the script still has something to send.
    if (!writesAfterFin) socket.on('end', () => socket.writableEnded || socket.end());
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, deadlineMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ error, hung, received: rx.received, corrupt: rx.corrupt, ended: rx.ended });
    });
    script(socket, rx);
  });
}

/** Runs `total` tasks with at most `concurrency` in flight. */
async function pool(total, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

function tally() {
  return { completed: 0, expectedBytes: 0, receivedBytes: 0, lostBytes: 0, extraBytes: 0, corrupt: 0, hung: 0, errors: {}, unexpected: 0 };
}

function account(t, result, expected) {
  t.completed++;
  if (result.hung) t.hung++;
  if (result.error) t.errors[result.error] = (t.errors[result.error] ?? 0) + 1;
  if (expected === null) return;
  // A verified lifecycle: every byte must arrive, intact, followed by a FIN, with no error.
  t.expectedBytes += expected;
  t.receivedBytes += result.received;
  if (result.received < expected) t.lostBytes += expected - result.received;
  if (result.received > expected) t.extraBytes += result.received - expected;
  if (result.corrupt) t.corrupt++;
  if (result.error || !result.ended || result.received !== expected || result.corrupt) t.unexpected++;
}

/** Echo `bytes` through the proxy: write them, FIN, read the echo to the FIN. */
function echoScript(bytes) {
  return (socket) => writePattern(socket, bytes, () => socket.end());
}

async function bulk({ port, conns, bytes, deadlineMs }) {
  const t = tally();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: conns }, () => connection(port, deadlineMs, echoScript(bytes)).then((r) => account(t, r, bytes))),
  );
  return { ...t, wallMs: performance.now() - start };
}

/** Connect, 64-byte echo, close: write, wait for the echo, FIN, wait for the FIN back. */
async function short({ port, total, concurrency, size, deadlineMs }) {
  const t = tally();
  const start = performance.now();
  await pool(total, concurrency, async () => {
    const r = await connection(port, deadlineMs, (socket, rx) => {
      writePattern(socket, size, () => {});
      const check = () => {
        if (rx.received >= size) {
          socket.off('data', check);
          socket.end();
        }
      };
      socket.on('data', check);
    });
    account(t, r, size);
  });
  return { ...t, wallMs: performance.now() - start };
}

// --- idle and flood: open many, hold, close ---

/** Connections held open until `idleClose`: each with its run's promise and the bytes it must receive. */
let held = [];

/**
 * Opens `count` connections and holds them until `idleClose`: `script(socket, rx, opened)`
 * runs on each and calls `opened()` once it stands open; a close counts as opened too, so a
 * refused connection cannot hang the run. The script gets its held entry `h` too: it may grow
 * `h.expected` and set `h.stop` (called before the FIN). Reports how many are still open.
 */
async function holdOpen({ port, count, concurrency, deadlineMs }, expected, script, stillOpen) {
  const t = tally();
  const start = performance.now();
  held = [];
  await pool(count, concurrency, () =>
    new Promise((opened) => {
      const h = { socket: null, done: null, expected, stop: null };
      h.done = connection(port, deadlineMs, (s, rx) => {
        h.socket = s;
        script(s, rx, opened, h);
        s.on('close', opened);
      });
      held.push(h);
    }),
  );
  const open = held.filter((h) => stillOpen(h.socket)).length;
  return { ...t, open, wallMs: performance.now() - start };
}

/** Connections that each echo `size` bytes, then stay open. */
function idleOpen(options) {
  const { size } = options;
  return holdOpen(
    options,
    size,
    (s, rx, opened) => {
      writePattern(s, size, () => {});
      const check = () => {
        if (rx.received >= size) {
          s.off('data', check);
          opened();
        }
      };
      s.on('data', check);
    },
    (s) => !s.destroyed && !s.readableEnded,
  );
}

/** Silent connections: connect and never send a byte. */
function silentOpen(options) {
  return holdOpen(
    options,
    0,
    (s, _rx, opened) => s.once('connect', opened),
    (s) => !s.destroyed && !s.connecting && !s.readableEnded,
  );
}

/**
 * Chatty connections: each sends `size` pattern bytes every `intervalMs` (first sends spread
 * over the interval, so the proxy sees a steady rate, not bursts); the echo is checked and
 * counted at `idleClose`. Held, still talking, until then.
 */
function chattyOpen(options) {
  const { size, intervalMs } = options;
  let index = 0;
  return holdOpen(
    options,
    0,
    (s, _rx, opened, h) => {
      let sent = 0;
      const send = () => {
        if (s.destroyed || s.writableEnded) return;
        // From the stream's offset in the pattern, so the echo checks as one continuous stream.
        const at = sent % PERIOD;
        s.write(PATTERN.subarray(at, at + size));
        sent += size;
        h.expected = sent;
      };
      let interval = null;
      const first = setTimeout(() => {
        send();
        interval = setInterval(send, intervalMs);
      }, index++ % intervalMs);
      h.stop = () => {
        clearTimeout(first);
        if (interval !== null) clearInterval(interval);
      };
      s.on('close', h.stop);
      s.once('connect', opened);
    },
    (s) => !s.destroyed && !s.connecting && !s.readableEnded,
  );
}

/** FIN on every held connection; each must receive what it expected, then the FIN back. */
async function idleClose() {
  const t = tally();
  const start = performance.now();
  for (const h of held) {
    h.stop?.();
    if (!h.socket.destroyed) h.socket.end();
  }
  const results = await Promise.all(held.map((h) => h.done.then((r) => [r, h.expected])));
  for (const [r, expected] of results) account(t, r, expected);
  held = [];
  return { ...t, wallMs: performance.now() - start };
}

/** The value at quantile `q` of sorted `values` (nearest rank). */
function quantile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * One connection, `warmup` then `count` request/echo round trips of `size` bytes, one at a
 * time; the last `count` are timed (write to the whole echo back). With `hold`, the connection
 * stays open, held until `idleClose`; else it is closed (FIN both ways) before the answer.
 */
async function roundTrips({ port, count, warmup, size, hold, deadlineMs }) {
  const t = tally();
  const times = [];
  let sent = 0;
  let socket;
  const start = performance.now();
  const finished = new Promise((resolve) => {
    const done = connection(port, deadlineMs, (s, rx) => {
      socket = s;
      let trips = 0;
      let t0 = 0;
      const next = () => {
        if (trips === warmup + count || s.destroyed) {
          s.off('data', onData);
          // Wrapped: resolving with the promise itself would wait for the close.
          resolve({ done });
          return;
        }
        t0 = performance.now();
        // From the stream's offset in the pattern, so the echo checks as one continuous stream.
        const at = sent % PERIOD;
        s.write(PATTERN.subarray(at, at + size));
        sent += size;
      };
      const onData = () => {
        if (rx.received < sent) return;
        if (trips >= warmup) times.push(performance.now() - t0);
        trips++;
        next();
      };
      s.on('data', onData);
      s.once('connect', next);
      s.on('close', () => resolve({ done }));
    });
  });
  const { done } = await finished;
  const wallMs = performance.now() - start;
  if (hold && !socket.destroyed) held.push({ socket, done, expected: sent });
  else {
    socket.end();
    account(t, await done, sent);
  }
  times.sort((a, b) => a - b);
  return { ...t, trips: times.length, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), maxMs: times.at(-1) ?? NaN, wallMs };
}

/**
 * Connections a proxy at its limit must refuse: connect, send nothing, wait for the proxy to
 * close. One that receives a byte, or is still open after `waitMs`, was served: unexpected.
 */
async function refusals({ port, total, concurrency, waitMs }) {
  const t = tally();
  let refused = 0;
  const start = performance.now();
  await pool(total, concurrency, async () => {
    const r = await connection(port, waitMs, () => {});
    t.completed++;
    if (r.error) t.errors[r.error] = (t.errors[r.error] ?? 0) + 1;
    if (r.hung || r.received > 0) t.unexpected++;
    else refused++;
  });
  return { ...t, refused, wallMs: performance.now() - start };
}

// --- churn: random lifecycles ---

/**
 * The lifecycles of the churn workload, with their weights. `expected` is the byte count the
 * client must receive (null: not checked, the connection is aborted on purpose).
 */
const LIFECYCLES = [
  // Half-close echo: write n bytes, FIN, read the echo to the FIN.
  { name: 'echo', weight: 30, run: (r) => ({ expected: r.n, script: echoScript(r.n) }) },
  // Connect and FIN at once, no byte either way.
  { name: 'empty', weight: 10, run: () => ({ expected: 0, script: (s) => s.end() }) },
  // FIN right after the request; the server streams its answer after that FIN.
  {
    name: 'stream_after_fin',
    weight: 15,
    run: (r) => ({ expected: r.m, script: (s) => s.end(header(MODE.STREAM_AFTER_FIN, r.m)) }),
  },
  // The server answers and sends its FIN first; the client keeps sending, then FINs.
  {
    name: 'server_closes',
    weight: 15,
    run: (r) => ({
      expected: r.m,
      writesAfterFin: true,
      script: (s) => {
        s.write(header(MODE.SERVER_CLOSES, r.m));
        s.on('end', () => writePattern(s, r.k, () => s.end()));
      },
    }),
  },
  // The server resets the connection.
  { name: 'server_resets', weight: 5, run: () => ({ expected: null, script: (s) => s.write(header(MODE.SERVER_RESETS)) }) },
  // The client sends, then resets mid-echo.
  {
    name: 'client_resets',
    weight: 10,
    run: (r) => ({
      expected: null,
      script: (s) => {
        writePattern(s, r.n + 1, () => {});
        s.once('data', () => s.resetAndDestroy());
      },
    }),
  },
  // The client sends and closes at once, without waiting for anything.
  {
    name: 'client_destroys',
    weight: 10,
    run: (r) => ({
      expected: null,
      script: (s) => {
        s.once('connect', () => {
          s.write(Buffer.alloc(Math.min(r.n, 1024)));
          s.destroy();
        });
      },
    }),
  },
  // Connects, then closes before sending anything.
  { name: 'client_closes_silently', weight: 5, run: () => ({ expected: null, script: (s) => s.once('connect', () => s.destroy()) }) },
];
const TOTAL_WEIGHT = LIFECYCLES.reduce((a, l) => a + l.weight, 0);

function pick(random) {
  let x = random() * TOTAL_WEIGHT;
  for (const l of LIFECYCLES) {
    x -= l.weight;
    if (x < 0) return l;
  }
  return LIFECYCLES[LIFECYCLES.length - 1];
}

async function churn({ port, total, concurrency, seed, maxBytes, deadlineMs }) {
  const random = rng(seed);
  const t = tally();
  const byLifecycle = {};
  const start = performance.now();
  await pool(total, concurrency, async () => {
    const lifecycle = pick(random);
    const params = {
      n: Math.floor(random() * maxBytes),
      m: 1 + Math.floor(random() * maxBytes),
      k: Math.floor(random() * 1024),
    };
    const { expected, script, writesAfterFin } = lifecycle.run(params);
    const r = await connection(port, deadlineMs, script, { writesAfterFin });
    account(t, r, expected);
    const b = (byLifecycle[lifecycle.name] ??= { count: 0, unexpected: 0, hung: 0 });
    b.count++;
    if (r.hung) b.hung++;
    if (expected !== null && (r.error || !r.ended || r.received !== expected || r.corrupt)) b.unexpected++;
  });
  return { ...t, byLifecycle, wallMs: performance.now() - start };
}

const COMMANDS = { bulk, short, idleOpen, silentOpen, chattyOpen, idleClose, roundTrips, refusals, churn };

process.on('message', async (msg) => {
  if (msg.type === 'exit') process.exit(0);
  const command = COMMANDS[msg.type];
  if (command === undefined) {
    process.send({ type: 'error', id: msg.id, error: `unknown command ${msg.type}` });
    return;
  }
  try {
    const result = await command(msg);
    process.send({ type: 'result', id: msg.id, result });
  } catch (err) {
    process.send({ type: 'error', id: msg.id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
