import * as assert from 'uvu/assert';
import { replay, type Connection, type Supervisor } from '../../src/index.js';

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
