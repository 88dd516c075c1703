/** What tests read from an event log, and the check that it replays to the live run. */
import * as assert from 'uvu/assert';
import { replay, type Connection, type EventLog, type EventRecord, type Supervisor } from '../../src/index.js';

/** Collects every connection a supervisor takes on, to compare with replay later. */
export function recordConnections(supervisor: Supervisor): Connection[] {
  const seen: Connection[] = [];
  supervisor.on('connection', (c) => seen.push(c));
  return seen;
}

/**
 * Replays the supervisor's event log and asserts that every connection's state value,
 * context and done-ness equal the live run's.
 */
export function assertReplayMatches(supervisor: Supervisor, connections: Connection[]): void {
  assert.ok(connections.length > 0, 'no connections recorded');
  const { connections: replayed, incomplete } = replay(supervisor.log.records());
  assert.equal(incomplete, [], 'log lost the open record of some connection');
  for (const live of connections) {
    const again = replayed.get(live.id);
    assert.ok(again, `connection ${live.id} missing from replay`);
    assert.equal(again!.value, live.state, `state of connection ${live.id}`);
    assert.equal(again!.context, live.context, `context of connection ${live.id}`);
    assert.equal(again!.done, live.disposed, `done-ness of connection ${live.id}`);
  }
}

/** Replay for a standalone `forward()` connection that was given its own log. */
export function assertForwardReplayMatches(log: EventLog, conn: Connection): void {
  const { connections, incomplete } = replay(log.records());
  assert.equal(incomplete, [], 'log lost the open record');
  const again = connections.get(conn.id);
  assert.ok(again, `connection ${conn.id} missing from replay`);
  assert.equal(again!.value, conn.state, 'replayed state');
  assert.equal(again!.context, conn.context, 'replayed context');
  assert.equal(again!.done, conn.disposed, 'replayed done-ness');
}

/** The event records of one connection in a log. */
export function eventsOf(log: EventLog, id: string): EventRecord[] {
  return log.records().filter((r): r is EventRecord => r.kind === 'event' && r.conn === id);
}

/** Timer events of one connection whose delay is `delay` (e.g. `socketTimeout`). */
export function timerEvents(log: EventLog, id: string, delay: string): EventRecord[] {
  return eventsOf(log, id).filter((r) => r.event.type.startsWith(`xstate.after.${delay}.`));
}

/** The time of a connection's last ACTIVITY checkpoint in the log. */
export function lastActivityAt(log: EventLog, id: string): number {
  const acts = eventsOf(log, id).filter((r) => r.event.type === 'ACTIVITY');
  assert.ok(acts.length > 0, 'an ACTIVITY checkpoint was logged');
  return acts[acts.length - 1]!.t;
}
