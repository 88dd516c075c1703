/**
 * The fault matrix: every fault × side × phase, one test per cell, over real loopback sockets
 * with a ManualClock (timers are deterministic: the test jumps from one due timer to the next
 * and lets the I/O settle in between).
 *
 * Each cell asserts its outcome: the path of the client and server regions (from the replayed
 * timeline, consecutive duplicates removed), the final reasons and the termination code. The
 * expected outcomes are the table in docs/fault-matrix.md, which this test generates:
 * `PL_WRITE_MATRIX=1` rewrites it; otherwise a cell whose outcome differs from its row fails,
 * and so does the last test when the document differs in any way from what the run produces.
 * Every cell also checks what must hold whatever the table says: the fault shows in the
 * reasons or the code, replay equals the live run, nothing (timer, listener) is left, the
 * proxy discarded little (it never reads on at full speed for nowhere), and the surviving
 * socket closed without waiting for a timer once the faulted one had closed.
 * Impossible cells are skipped, each with the reason, and listed in the document too.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { closeCode, regionName, replay, type CloseInfo, type Connection, type DisposedRecord, type SocketLike, type SupervisorOptions } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { startLoopback, type Loopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { RESET_CODES, closedPort, endpoint, payload, type Endpoint } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { settled, until } from './helpers/wait.js';

const DOC = new URL('../docs/fault-matrix.md', import.meta.url);
const WRITE = process.env.PL_WRITE_MATRIX === '1';

const FAULTS = ['connect refused', 'connect timeout', 'RST', 'RST mid-stream', 'FIN', 'stall', 'silent', 'shutdown'] as const;
const SIDES = ['client', 'server'] as const;
const PHASES = ['connecting', 'open', 'half-closed', 'draining'] as const;
type Fault = (typeof FAULTS)[number];
type CellSide = (typeof SIDES)[number];
type Phase = (typeof PHASES)[number];

/** The settings of every cell. */
const SETTINGS = {
  connectTimeout: 3000,
  gracePeriod: 2000,
  idleTimeout: 60_000,
  parityTimeout: 20_000,
  parityInactivity: 5000,
  socketTimeout: 0,
  activitySampleInterval: 1000,
} as const;
const SHUTDOWN_TIMEOUT = 1000;
const BULK = 8 * 1024 * 1024;
/** A cell that is not over after this much simulated time fails. */
const LIMIT_MS = 10 * 60_000;
/**
 * Every cell: the proxy reads little with nowhere to forward it (what was in flight, then the
 * binding stops reading: its budget plus a read or two), and once the faulted side's socket
 * has closed, the surviving socket closes without waiting for a timer.
 */
const DISCARD_LIMIT = 256 * 1024;
const SURVIVOR_MS = 50;
/** How much of the stream the peer on side reads before it resets (RST mid-stream). */
const MID_STREAM = 1024 * 1024;

/** Why a cell cannot happen, or null. */
function impossible(fault: Fault, side: CellSide, phase: Phase): string | null {
  if (fault === 'connect refused' || fault === 'connect timeout') {
    if (side === 'client') return 'the proxy gets the client already connected: only the upstream connect can fail';
    if (phase !== 'connecting') return 'a connect fault exists only while the upstream connects';
    return null;
  }
  if (side === 'server' && phase === 'connecting' && fault !== 'shutdown') {
    return 'there is no upstream peer before its connect completes (an upstream that never answers or refuses is the connect timeout / connect refused row)';
  }
  if (fault === 'RST mid-stream' && phase === 'connecting') return 'nothing streams before the upstream connects (a reset then is the RST row)';
  if (fault === 'RST mid-stream' && phase === 'draining') {
    return 'the streaming peer never sends FIN, so the proxy never ends this side behind pending bytes (a reset of a peer that stopped reading is the RST × draining row)';
  }
  if (fault === 'stall' && phase === 'connecting') return 'nothing flows towards the client before the upstream connects, so no buffer can fill';
  if (fault === 'stall' && phase === 'half-closed') {
    return "the proxy has ended this side to forward the other peer's FIN: nothing flows towards it any more, so no buffer can fill (a stall before that FIN is the draining row)";
  }
  return null;
}

interface Row {
  fault: Fault;
  side: CellSide;
  phase: Phase;
  client: string;
  server: string;
  reasons: string;
  code: string;
}

const rowKey = (fault: string, side: string, phase: string) => `${fault}|${side}|${phase}`;
const short = (state: string) => state.replace(/^draining\./, '');

function rowLine(r: Row): string {
  return `| ${r.fault} | ${r.side} | ${r.phase} | ${r.client} | ${r.server} | ${r.reasons} | \`${r.code}\` |`;
}

/** The rows of the committed document, by fault|side|phase. */
function committedRows(): Map<string, string> {
  const rows = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync(DOC, 'utf8');
  } catch {
    return rows;
  }
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | fault | side | phase | client | server | reasons | code |
    if (cells.length === 9 && (FAULTS as readonly string[]).includes(cells[1]!)) rows.set(rowKey(cells[1]!, cells[2]!, cells[3]!), line);
  }
  return rows;
}

const COMMITTED = WRITE ? new Map<string, string>() : committedRows();
const produced = new Map<string, Row>();

function dedup(states: string[]): string {
  const out: string[] = [];
  for (const s of states) if (out[out.length - 1] !== s) out.push(s);
  return out.join(' → ');
}

/** How the upstream socket is made. */
type UpstreamKind = 'connect' | 'deferred' | 'refused' | 'never';

function upstreamKind(fault: Fault, phase: Phase): UpstreamKind {
  if (fault === 'connect refused') return 'refused';
  if (fault === 'connect timeout') return 'never';
  return phase === 'connecting' ? 'deferred' : 'connect';
}

/** A test peer: what it read, plus how it behaves from now on. */
interface Peer extends Endpoint {
  /** End our side as soon as the proxy's FIN arrives (cooperative). */
  answerFin: boolean;
}

function peer(ep: Endpoint, answerFin = true): Peer {
  const p = ep as Peer;
  p.answerFin = answerFin;
  const socket = ep.socket;
  socket.on('end', () => {
    if (p.answerFin && !socket.writableEnded && !socket.destroyed) socket.end();
  });
  return p;
}

/**
 * One cell on the loopback rig: its one connection, each test peer scripted (reads or not,
 * answers FIN or not), the upstream the cell needs (a deferred connect, a refused port, a
 * connect that never completes), and when each of the proxy's sockets closed.
 */
interface Cell {
  rig: Loopback;
  conn: Connection;
  client: Peer;
  /** The upstream's accepted socket, once the upstream connected (see {@link Cell.connectUpstream}). */
  upstream: Peer | null;
  /** When each of the proxy's own sockets closed, on the rig's clock (null while open). */
  closedAt: { client: number | null; server: number | null };
  /** For a deferred upstream: starts the connect now and waits until the upstream accepted. */
  connectUpstream(answerFin?: boolean): Promise<Peer>;
  /** Waits until the upstream accepted the proxy's connection (a non-deferred upstream). */
  acceptedUpstream(answerFin?: boolean): Promise<Peer>;
}

interface CellOptions {
  supervisor: SupervisorOptions;
  upstream: UpstreamKind;
  /** High-water mark of both proxy sockets (a large one: the proxy buffers without pausing). */
  highWaterMark?: number;
}

async function startCell(options: CellOptions): Promise<Cell> {
  const hwm = options.highWaterMark ? { highWaterMark: options.highWaterMark } : {};
  const accepted: net.Socket[] = [];
  let onAccept: (() => void) | null = null;
  const closedAt: Cell['closedAt'] = { client: null, server: null };
  let release: ((s: SocketLike) => void) | null = null;
  const rig = await startLoopback({
    supervisor: options.supervisor,
    front: { allowHalfOpen: true, ...hwm },
    upstream: (socket) => {
      accepted.push(socket);
      onAccept?.();
    },
    dial: (upstreamPort) => (): SocketLike | Promise<SocketLike> => {
      switch (options.upstream) {
        case 'connect':
          return connectTo(upstreamPort);
        case 'refused':
          return connectTo(deadPort);
        case 'never': {
          // A socket whose connect never completes (as for a peer that drops the SYN).
          const s = proxySocket(new net.Socket(), 'server');
          (s as { connecting: boolean }).connecting = true;
          return s;
        }
        case 'deferred':
          return new Promise<SocketLike>((resolve) => {
            release = resolve;
          });
      }
    },
  });
  const deadPort = options.upstream === 'refused' ? await closedPort() : 0;
  const proxySocket = (s: net.Socket, side: 'client' | 'server'): net.Socket => {
    s.once('close', () => (closedAt[side] = rig.clock.now()));
    return s;
  };
  const connectTo = (port: number) => proxySocket(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...hwm }), 'server');
  rig.front.prependListener('connection', (client: net.Socket) => proxySocket(client, 'client'));
  const { c, conn } = await rig.connect();

  const acceptedUpstream = async (answerFin = true): Promise<Peer> => {
    if (cell.upstream !== null) return cell.upstream;
    if (accepted.length === 0) await new Promise<void>((resolve) => (onAccept = resolve));
    cell.upstream = peer(endpoint(accepted[0]!), answerFin);
    return cell.upstream;
  };
  const cell: Cell = {
    rig,
    conn,
    client: peer(c),
    upstream: null,
    closedAt,
    async connectUpstream(answerFin = true) {
      if (release === null) throw new Error('the upstream is not deferred (or was released already)');
      const resolve = release as (s: SocketLike) => void;
      release = null;
      resolve(connectTo(rig.upstreamPort));
      return acceptedUpstream(answerFin);
    },
    acceptedUpstream,
  };
  return cell;
}

/**
 * Waits until nothing moves any more: no new log record, no byte counted by the proxy or the
 * peers, no FIN or close seen, for 6 event-loop turns in a row.
 */
async function settle(cell: Cell): Promise<void> {
  await settled(() => {
    const c = cell.conn;
    const peers = [cell.client, cell.upstream].map((p) => (p === null ? null : [p.received, p.gotEnd, p.closed, p.socket.writableLength]));
    return JSON.stringify([cell.rig.supervisor.log.records().length, c.clientToServer, c.serverToClient, c.disposed, c.client.writableLength, c.server?.writableLength, peers]);
  }, 6, 10_000);
}

const region = (cell: Cell, side: CellSide) => regionName(cell.conn.state, side);

/** The other peer streams at the proxy without ever stopping (an SSE upstream, an endless upload) until its socket goes. */
function stream(from: Peer): void {
  const chunk = payload(16 * 1024);
  const socket = from.socket;
  const pump = () => {
    while (!socket.destroyed && socket.writable && socket.write(chunk));
  };
  socket.on('drain', pump);
  pump();
}

/** Advances the clock to each next due timer, letting the I/O settle in between, until disposed. */
async function runToEnd(cell: Cell): Promise<void> {
  await settle(cell);
  while (!cell.conn.disposed) {
    const due = cell.rig.clock.nextDue();
    if (due === undefined) throw new Error(`stuck: no timer armed and not disposed (${JSON.stringify(cell.conn.state)})`);
    if (due > LIMIT_MS) throw new Error(`not over after ${LIMIT_MS} ms of simulated time`);
    cell.rig.clock.advance(due - cell.rig.clock.now());
    await settle(cell);
  }
}

async function runCell(fault: Fault, side: CellSide, phase: Phase): Promise<{ row: Row; info: CloseInfo; cell: Cell }> {
  const kind = upstreamKind(fault, phase);
  const cell = await startCell({
    supervisor: SETTINGS,
    upstream: kind,
    // Draining: the proxy buffers all it reads towards a peer that does not read, without
    // pausing the sender, so the sender's FIN is read and forwarded behind the pending bytes.
    highWaterMark: phase === 'draining' ? 4 * BULK : undefined,
  });
  try {
    const conn = cell.conn;
    const client = cell.client;
    client.socket.write('hello');
    let upstream: Peer | null = null;
    if (kind === 'connect') {
      upstream = await cell.acceptedUpstream();
      await until(() => region(cell, 'server') === 'open' && upstream!.received === 5, 'the request upstream');
      upstream.socket.write('world');
      await until(() => client.received === 5, 'the answer at the client');
    }
    const faulted = () => (side === 'client' ? client : upstream!);
    const otherPeer = () => (side === 'client' ? upstream! : client);
    const otherSide: CellSide = side === 'client' ? 'server' : 'client';

    // Bring the connection into the phase. The peer on this side keeps its half open (the
    // fault decides what it does next).
    const streaming = fault === 'RST mid-stream';
    if (streaming) {
      // The peer on side asked (and, half-closed, sent its FIN, as an SSE client does); the
      // other peer streams to it without end. The peer on side reads a good part, then resets.
      otherPeer().answerFin = false; // a stream does not end because its reader half-closed
      if (phase === 'half-closed') {
        faulted().socket.end();
        await until(() => region(cell, side) === 'draining.readEnded' && region(cell, otherSide) === 'draining.writeEnded', 'the FIN of the peer on side forwarded');
      }
      stream(otherPeer());
      const before = faulted().received;
      await until(() => faulted().received >= before + MID_STREAM, 'the stream flowing to the peer on side');
    } else if (phase === 'half-closed') {
      faulted().answerFin = false;
      otherPeer().socket.end();
      await until(
        () => faulted().gotEnd && region(cell, side) === 'draining.writeEnded' && region(cell, otherSide) === 'draining.readEnded',
        "the other peer's FIN forwarded",
      );
    } else if (phase === 'draining') {
      faulted().answerFin = false;
      faulted().socket.pause();
      otherPeer().socket.write(payload(BULK));
      otherPeer().socket.end();
      const towards = side === 'client' ? conn.client : conn.server!;
      const readFromOther = () => (side === 'client' ? conn.serverToClient : conn.clientToServer);
      await until(
        () => readFromOther() === BULK + 5 && region(cell, side) === 'draining.flushing' && region(cell, otherSide) === 'draining.readEnded' && towards.writableLength > 0,
        'the proxy to flush towards a peer that does not read',
      );
    }
    // A stream never settles: its cells go straight to the fault.
    if (!streaming) await settle(cell);

    // The fault.
    switch (fault) {
      case 'connect refused':
      case 'connect timeout':
        break;
      case 'RST':
      case 'RST mid-stream':
        faulted().socket.resetAndDestroy();
        break;
      case 'FIN':
        faulted().socket.resume();
        faulted().socket.end();
        break;
      case 'stall':
        faulted().answerFin = false;
        faulted().socket.pause();
        if (phase === 'open') {
          otherPeer().socket.write(payload(BULK));
          await until(() => conn.pauses > 0, 'backpressure: the proxy pauses the sender');
        }
        break;
      case 'silent':
        faulted().answerFin = false;
        faulted().socket.resume();
        break;
      case 'shutdown':
        // The peer on this side lags: it does not answer the proxy's FIN (and, while draining,
        // still does not read); the other peer cooperates.
        if (phase !== 'connecting' || side === 'client') faulted().answerFin = false;
        void cell.rig.supervisor.shutdown({ timeout: SHUTDOWN_TIMEOUT });
        break;
    }
    await settle(cell);
    if (kind === 'deferred') {
      upstream = await cell.connectUpstream(!(fault === 'shutdown' && side === 'server'));
    }
    await runToEnd(cell);

    const info = await conn.whenClosed();
    const replayed = replay(cell.rig.supervisor.log.records(), { timeline: true }).connections.get(conn.id)!;
    assert.ok(replayed.done, 'replay: done');
    const timeline = replayed.timeline!;
    const row: Row = {
      fault,
      side,
      phase,
      client: dedup(['open', ...timeline.map((s) => s.client)].map(short)),
      server: dedup(['connecting', ...timeline.map((s) => s.server)].map(short)),
      reasons: `${info.reasons.client} / ${info.reasons.server}`,
      code: info.code,
    };
    // Whatever the table says: the code is the replayed ending's, the log agrees, nothing is left.
    assert.is(info.code, closeCode(replayed.context.ending), 'code of the replayed ending');
    const disposed = cell.rig.supervisor.log.records().find((r): r is DisposedRecord => r.kind === 'disposed' && r.conn === conn.id);
    assert.is(disposed?.code, info.code, 'the disposed record has the code');
    assert.equal(replayed.context.reasons, info.reasons, 'replayed reasons');
    assertReplayMatches(cell.rig.supervisor, [conn]);
    assert.is(cell.rig.clock.pending, 0, 'no timer left on the clock');
    assert.is(conn.pendingTimers, 0, 'no timer left on the connection');
    assert.is(cell.rig.supervisor.stats.active, 0, 'supervisor empty');
    assert.is(boundListenerCount(conn.client), 0, 'no listener of ours on the client socket');
    if (conn.server !== null) assert.is(boundListenerCount(conn.server), 0, 'no listener of ours on the upstream socket');
    // Whatever the fault: little read for nowhere, and no timer needed to close the survivor.
    assert.ok(info.discarded <= DISCARD_LIMIT, `discarded ${info.discarded} bytes (at most ${DISCARD_LIMIT})`);
    const faultedAt = cell.closedAt[side];
    const survivorAt = cell.closedAt[otherSide];
    if (faultedAt !== null && survivorAt !== null && survivorAt > faultedAt) {
      assert.ok(survivorAt - faultedAt <= SURVIVOR_MS, `the ${otherSide} socket closed ${survivorAt - faultedAt} ms after the ${side} socket (at most ${SURVIVOR_MS})`);
    }
    return { row, info, cell };
  } catch (err) {
    await cell.rig.close();
    throw err;
  }
}

/** What each fault must show, whatever the exact path. */
function assertFaultShows(fault: Fault, side: CellSide, phase: Phase, info: CloseInfo, cell: Cell): void {
  const ending = info.ending;
  const timers = cell.rig.supervisor.log.records().flatMap((r) => (r.kind === 'event' ? [r.event.type] : []));
  switch (fault) {
    case 'connect refused':
      assert.is(info.reasons.server, 'connect_refused');
      assert.is(info.errors.server, 'ECONNREFUSED');
      assert.is(info.code, 'RK');
      break;
    case 'connect timeout':
      assert.is(info.reasons.server, 'connect_timeout');
      assert.is(info.code, 'TK');
      break;
    case 'RST':
    case 'RST mid-stream':
      assert.ok(RESET_CODES.includes(info.errors[side] ?? ''), `reset seen on the ${side}: ${String(info.errors[side])}`);
      assert.equal([ending?.side, ending?.reason], [side, 'reset'], 'the reset decides the ending');
      break;
    case 'FIN':
      for (const s of SIDES) assert.ok(['fin', 'peer_fin'].includes(info.reasons[s] ?? ''), `${s} reason ${String(info.reasons[s])}`);
      assert.is(ending?.reason, 'fin');
      break;
    case 'stall':
      // The stalled side never drains: the grace period destroys it.
      assert.ok(timers.some((t) => t.startsWith(`xstate.after.gracePeriod.connection.${side}.`)), `grace period expired on the ${side}`);
      break;
    case 'silent':
      assert.ok(['idle_timeout', 'parity_timeout'].includes(ending?.reason ?? ''), `a proxy timer ends a silent peer: ${String(ending?.reason)}`);
      break;
    case 'shutdown':
      if (phase === 'draining') {
        // It never took what it was owed: cut at the deadline.
        assert.is(info.reasons[side], 'aborted', 'the lagging side is cut at the shutdown deadline');
        assert.is(ending?.reason, 'aborted');
      } else {
        // It got every byte and our FIN; once the other side is gone there is nothing to wait for.
        assert.is(info.reasons[side], 'shutdown', 'the lagging side closes once the other side is gone');
        assert.is(ending?.reason, 'shutdown');
        assert.ok(info.durationMs < SHUTDOWN_TIMEOUT, `closed before the shutdown deadline (after ${info.durationMs} ms)`);
      }
      break;
  }
  if (phase === 'connecting' && (fault === 'RST' || fault === 'FIN')) {
    // Regression (found by this matrix): the client's end was recorded in phase 'open' (cO / CO)
    // while the upstream was still connecting. docs/close-reasons.md, "Termination codes": K = upstream
    // connecting, so cK / CK.
    assert.is(info.code.slice(1), 'K', `the client ${fault === 'RST' ? 'reset' : 'closed'} while the upstream was connecting`);
  }
}

for (const fault of FAULTS) {
  for (const side of SIDES) {
    for (const phase of PHASES) {
      const why = impossible(fault, side, phase);
      const name = `${fault} × ${side} × ${phase}`;
      if (why !== null) {
        test.skip(`${name} (impossible: ${why})`, () => {});
        continue;
      }
      test(name, async () => {
        const guard = guardUncaught();
        const { row, info, cell } = await runCell(fault, side, phase);
        try {
          produced.set(rowKey(fault, side, phase), row);
          assertFaultShows(fault, side, phase, info, cell);
          assert.equal(guard.errors, [], 'nothing thrown');
          if (!WRITE) {
            const committed = COMMITTED.get(rowKey(fault, side, phase));
            assert.ok(committed !== undefined, `no row for ${name} in docs/fault-matrix.md (run with PL_WRITE_MATRIX=1)`);
            assert.is(rowLine(row), committed, `outcome of ${name} (docs/fault-matrix.md)`);
          }
        } finally {
          guard.dispose();
          await cell.rig.close();
        }
      });
    }
  }
}

const OUTCOMES_HEADER = `| fault | side | phase | client path | server path | reasons | code |
|---|---|---|---|---|---|---|`;

function outcomeRows(): string[] {
  const rows: string[] = [];
  for (const fault of FAULTS) {
    for (const side of SIDES) {
      for (const phase of PHASES) {
        if (impossible(fault, side, phase) !== null) continue;
        const row = produced.get(rowKey(fault, side, phase));
        if (row === undefined) throw new Error(`cell ${fault} × ${side} × ${phase} produced no outcome (it failed)`);
        rows.push(rowLine(row));
      }
    }
  }
  return rows;
}

function document(): string {
  const rows = outcomeRows();
  const impossibleRows: string[] = [];
  for (const fault of FAULTS) {
    for (const side of SIDES) {
      for (const phase of PHASES) {
        const why = impossible(fault, side, phase);
        if (why !== null) impossibleRows.push(`| ${fault} | ${side} | ${phase} | ${why} |`);
      }
    }
  }
  return `# Fault matrix

<!-- Generated by test/fault-matrix.test.ts: PL_WRITE_MATRIX=1 npm run test:unit (or
     node --import tsx node_modules/uvu/bin.js test fault-matrix) rewrites it. Do not edit by
     hand: the test fails when this file differs from what a run produces. -->

What the proxy does for every fault, on either side, in every phase of a connection. Each row
is one test over real loopback sockets (test client ⇄ proxy ⇄ test upstream) with a
\`ManualClock\`, run until the connection is disposed.

- **client path / server path**: the states each side's region went through (from the replayed
  event log, repeats removed; \`readEnded\`, \`writeEnded\` and \`flushing\` are the \`draining\` states).
- **reasons**: the close reason of the client / server side (see [close-reasons.md](close-reasons.md)).
- **code**: the termination code (\`CloseInfo.code\`, [termination codes](close-reasons.md#termination-codes)).

Settings (ms): \`connectTimeout\` ${SETTINGS.connectTimeout}, \`gracePeriod\` ${SETTINGS.gracePeriod}, \`idleTimeout\` ${SETTINGS.idleTimeout},
\`parityTimeout\` ${SETTINGS.parityTimeout}, \`parityInactivity\` ${SETTINGS.parityInactivity}, no socket timeout, activity sampled
every ${SETTINGS.activitySampleInterval}; shutdown deadline ${SHUTDOWN_TIMEOUT}.

## Faults

The client first sends a request; once connected, the upstream answers. The peer that is not
faulted cooperates: it reads everything and answers the proxy's FIN with its own.

| fault | what the peer on *side* does |
|---|---|
| connect refused | the upstream port is closed (\`ECONNREFUSED\`) |
| connect timeout | the upstream never completes its connect |
| RST | resets its socket (\`resetAndDestroy()\`) |
| RST mid-stream | the other peer streams to it without end (an SSE upstream, an endless upload); it reads ${MID_STREAM / 1024 / 1024} MB of the stream, then resets |
| FIN | sends FIN, keeps reading, closes once it got the proxy's FIN |
| stall | stops reading for good, with the proxy's buffer towards it full (open: the other peer sends ${BULK / 1024 / 1024} MB, so backpressure pauses it), never answers FIN |
| silent | sends nothing more and never answers FIN, but keeps reading |
| shutdown | the proxy shuts down (\`supervisor.shutdown({ timeout: ${SHUTDOWN_TIMEOUT} })\`); the peer on *side* lags: it does not answer the proxy's FIN |

## Phases

| phase | the connection when the fault happens |
|---|---|
| connecting | the upstream has not connected yet (for client faults and shutdown: an asynchronous upstream factory that the test resolves after the fault) |
| open | both directions open, bytes went both ways |
| half-closed | the *other* peer sent FIN and the proxy forwarded it: this side is \`writeEnded\`, the other \`readEnded\` (RST mid-stream: the peer on *side* sent FIN after its request, as an SSE client does, and the stream flows on to it) |
| draining | the proxy is flushing towards this side: the peer here does not read, the other peer sent ${BULK / 1024 / 1024} MB and FIN, so the proxy ended this side behind bytes still pending (\`flushing\`) |

## Outcomes

Every cell also asserts that the proxy discarded at most ${DISCARD_LIMIT / 1024} KiB (bytes read with nowhere to
forward them), and that once the faulted side's socket closed, the surviving one closed within
${SURVIVOR_MS} ms of simulated time, without waiting for a timer.

${OUTCOMES_HEADER}
${rows.join('\n')}

## Impossible cells

| fault | side | phase | why |
|---|---|---|---|
${impossibleRows.join('\n')}
`;
}

test('docs/fault-matrix.md is what this run produces', () => {
  const text = document();
  if (WRITE) {
    writeFileSync(DOC, text);
    return;
  }
  let committed = '';
  try {
    committed = readFileSync(DOC, 'utf8');
  } catch {
    assert.unreachable('docs/fault-matrix.md is missing (run with PL_WRITE_MATRIX=1)');
  }
  assert.fixture(committed, text, 'docs/fault-matrix.md is stale: regenerate it with PL_WRITE_MATRIX=1');
});

test.run();
