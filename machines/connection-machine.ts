import { and, assign, not, or, raise, setup, stateIn } from 'xstate';
import { moreDecisive, reasonForError, type ClosePhase, type CloseReason, type Ending } from './close-reasons.js';
import type { ConnectionEvent, Side } from './connection-events.js';
import { DEFAULT_SETTINGS, type ConnectionSettings } from './connection-settings.js';
import { sinceLastByte } from './inactivity.js';

/** Per-side record kept in the machine's context. */
export interface SidePair<T> {
  client: T;
  server: T;
}

/** The connection machine's context: settings plus what replay must reproduce exactly. */
export interface ConnectionContext {
  settings: ConnectionSettings;
  /** Why each side ended; the first cause wins, except forced closes (grace, abort). */
  reasons: SidePair<CloseReason | null>;
  /** What ended the connection: the most decisive reason so far, its side and phase. */
  ending: Ending | null;
  /** The socket error code seen on each side, if any. */
  errors: SidePair<string | null>;
  /** Whether each side's peer has sent FIN. */
  readEnded: SidePair<boolean>;
  /** Whether our own FIN on each side has gone out after every pending write (`FINISHED`). */
  flushed: SidePair<boolean>;
  /** The upstream was ended before it finished connecting; flush once connected. */
  serverEndPending: boolean;
  /** The upstream has connected; until then every close happens in phase `connecting`. */
  connected: boolean;
  /** Cumulative bytes as of the last ACTIVITY checkpoint. */
  bytes: { clientToServer: number; serverToClient: number };
}

/** What the machine reports when both regions are final. */
export interface ConnectionOutput {
  reasons: SidePair<CloseReason | null>;
  ending: Ending | null;
  errors: SidePair<string | null>;
  bytes: { clientToServer: number; serverToClient: number };
}

type SideParams = { side: Side };

/** Reasons that record a decision of the proxy; a later grace expiry does not overwrite them. */
const PROXY_DECISIONS: ReadonlySet<CloseReason> = new Set<CloseReason>([
  'shutdown',
  'timeout',
  'idle_timeout',
  'max_lifetime',
  'parity_timeout',
  'first_byte_timeout',
]);
type ReasonParams = { side: Side; reason: CloseReason; phase: ClosePhase };
type PhaseParams = { side: Side; phase: ClosePhase };

/** How a new reason meets an old one: the first wins, it always wins, or it wins unless the proxy decided. */
type ReasonMode = 'first' | 'force' | 'grace';

/**
 * The context update for `reason` on `side`. A side's own reason follows `mode`; the
 * connection's `ending` hears every cause and keeps the most decisive one, so a reset of a
 * side that was already draining still shows in the termination code.
 */
function applyReason(context: ConnectionContext, side: Side, reason: CloseReason, phase: ClosePhase, mode: ReasonMode) {
  const current = context.reasons[side];
  const keep = current !== null && (mode === 'first' || (mode === 'grace' && PROXY_DECISIONS.has(current)));
  // As HAProxy's %ts: whatever the client did, the session was still waiting for its upstream.
  const ending = moreDecisive(context.ending, { side, reason, phase: context.connected ? phase : 'connecting' });
  if (keep) return ending === context.ending ? {} : { ending };
  return { reasons: withSide(context.reasons, side, reason), ending };
}

const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');
const eventSide = (event: ConnectionEvent): Side | undefined =>
  'side' in event ? event.side : undefined;

/** Sets `key[side]` on a context pair without mutating the old snapshot. */
function withSide<T>(pair: SidePair<T>, side: Side, value: T): SidePair<T> {
  return side === 'client' ? { client: value, server: pair.server } : { client: pair.client, server: value };
}

/**
 * The implementations the machine refers to by name. Effect actions (`endSocket`,
 * `destroySocket`, `refreshTimeout`) are deliberately empty here: the machine is data, and
 * the socket binding executes them by name.
 */
export const connectionSetup = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as Partial<ConnectionSettings> | undefined,
    output: {} as ConnectionOutput,
  },
  guards: {
    isSelf: ({ event }, params: SideParams) => eventSide(event) === params.side,
    isPeer: ({ event }, params: SideParams) => eventSide(event) === other(params.side),
    readEnded: ({ context }, params: SideParams) => context.readEnded[params.side],
    flushed: ({ context }, params: SideParams) => context.flushed[params.side],
    // We ended this side only to pass on the other side's FIN: its own direction stays open.
    forwardingFin: ({ context }, params: SideParams) => context.reasons[params.side] === 'peer_fin',
    halfOpenDisallowed: ({ context }) => !context.settings.allowHalfOpen,
    timeoutCloses: ({ context }) => context.settings.timeoutBehavior === 'close',
    timeoutResets: ({ context }) => context.settings.timeoutBehavior === 'reset',
    serverEndPending: ({ context }) => context.serverEndPending,
    socketTimeoutEnabled: ({ context }) => context.settings.socketTimeout > 0,
    idleTimeoutEnabled: ({ context }) => context.settings.idleTimeout > 0,
    maxLifetimeEnabled: ({ context }) => context.settings.maxLifetime > 0,
    firstByteTimeoutEnabled: ({ context }) => context.settings.firstByteTimeout > 0,
    // The one guard that reads bytes, and only the event's: the table runtime keys ACTIVITY on it.
    clientSent: ({ event }) => event.type === 'ACTIVITY' && event.clientToServer > 0,
    clientClosed: stateIn({ client: 'closed' }),
    serverClosed: stateIn({ server: 'closed' }),
    bothSidesClosed: and([stateIn({ client: 'closed' }), stateIn({ server: 'closed' })]),
    halfClosed: not(
      and([stateIn({ client: 'open' }), or([stateIn({ server: 'open' }), stateIn({ server: 'connecting' })])]),
    ),
    inactive: stateIn({ watch: { activity: 'quiet' } }),
  },
  actions: {
    endSocket: (_, _params: SideParams) => {},
    destroySocket: (_, _params: SideParams) => {},
    refreshTimeout: (_, _params: SideParams) => {},
    setReason: assign(({ context }, p: ReasonParams) => applyReason(context, p.side, p.reason, p.phase, 'first')),
    forceReason: assign(({ context }, p: ReasonParams) => applyReason(context, p.side, p.reason, p.phase, 'force')),
    // Grace expiry is how a side was cut, not why, when the proxy itself decided to close it.
    setGraceReason: assign(({ context }, p: SideParams) => applyReason(context, p.side, 'grace_expired', 'draining', 'grace')),
    setErrorReason: assign(({ context, event }, p: PhaseParams) => {
      const code = event.type === 'ERROR' ? event.code : undefined;
      const connecting = p.phase === 'connecting';
      const reason = reasonForError(code, connecting);
      return {
        errors: withSide(context.errors, p.side, code ?? 'UNKNOWN'),
        // An upstream that never connected failed to connect, whatever the client did meanwhile.
        ...applyReason(context, p.side, reason, p.phase, connecting ? 'force' : 'first'),
      };
    }),
    // The proxy's own decision (shutdown, idle, lifetime, parity) is why a still-live side
    // ends, even if its peer had half-closed earlier: it overrides `fin`/`peer_fin`.
    setReasonFromEvent: assign(({ context, event }, p: PhaseParams) =>
      applyReason(context, p.side, event.type === 'EXPIRE' ? event.reason : 'shutdown', p.phase, 'force'),
    ),
    markReadEnded: assign(({ context }, params: SideParams) => ({
      readEnded: withSide(context.readEnded, params.side, true),
    })),
    markFlushed: assign(({ context }, params: SideParams) => ({
      flushed: withSide(context.flushed, params.side, true),
    })),
    markServerEndPending: assign({ serverEndPending: true }),
    markConnected: assign({ connected: true }),
    recordBytes: assign(({ context, event }) =>
      event.type === 'ACTIVITY'
        ? { bytes: { clientToServer: event.clientToServer, serverToClient: event.serverToClient } }
        : { bytes: context.bytes },
    ),
    raiseClientTimeout: raise({ type: 'TIMEOUT', side: 'client' }),
    raiseServerTimeout: raise({ type: 'TIMEOUT', side: 'server' }),
    expireIdle: raise({ type: 'EXPIRE', reason: 'idle_timeout' }),
    expireLifetime: raise({ type: 'EXPIRE', reason: 'max_lifetime' }),
    expireParity: raise({ type: 'EXPIRE', reason: 'parity_timeout' }),
    expireFirstByte: raise({ type: 'EXPIRE', reason: 'first_byte_timeout' }),
  },
  delays: {
    connectTimeout: ({ context }) => context.settings.connectTimeout,
    gracePeriod: ({ context }) => context.settings.gracePeriod,
    socketTimeout: ({ context, event }) => sinceLastByte(context.settings.socketTimeout, event),
    idleTimeout: ({ context, event }) => sinceLastByte(context.settings.idleTimeout, event),
    maxLifetime: ({ context }) => context.settings.maxLifetime,
    parityTimeout: ({ context }) => context.settings.parityTimeout,
    parityInactivity: ({ context, event }) => sinceLastByte(context.settings.parityInactivity, event),
    // From the connection's creation, not from a byte: it is armed once, at the start.
    firstByteTimeout: ({ context }) => context.settings.firstByteTimeout,
  },
});

// Config builders below return plain data; they only save writing each side's region twice.
const self = (side: Side) => ({ type: 'isSelf', params: { side } }) as const;
const peer = (side: Side) => ({ type: 'isPeer', params: { side } }) as const;
const endSocket = (side: Side) => ({ type: 'endSocket', params: { side } }) as const;
const destroySocket = (side: Side) => ({ type: 'destroySocket', params: { side } }) as const;
const refreshTimeout = (side: Side) => ({ type: 'refreshTimeout', params: { side } }) as const;
const setReason = (side: Side, reason: CloseReason, phase: ClosePhase) =>
  ({ type: 'setReason', params: { side, reason, phase } }) as const;
const forceReason = (side: Side, reason: CloseReason, phase: ClosePhase) =>
  ({ type: 'forceReason', params: { side, reason, phase } }) as const;
const setErrorReason = (side: Side, phase: ClosePhase) => ({ type: 'setErrorReason', params: { side, phase } }) as const;
const setReasonFromEvent = (side: Side, phase: ClosePhase) => ({ type: 'setReasonFromEvent', params: { side, phase } }) as const;
const markReadEnded = (side: Side) => ({ type: 'markReadEnded', params: { side } }) as const;

function closedTarget(side: Side) {
  return `#connection.${side}.closed`;
}
function flushingTarget(side: Side) {
  return `#connection.${side}.draining.flushing`;
}

/** The guard that holds once the other side's region is closed. */
function peerClosed(side: Side): 'serverClosed' | 'clientClosed' {
  return side === 'client' ? 'serverClosed' : 'clientClosed';
}

/**
 * One rule for every way the other side can end (error, reset, close, connect timeout,
 * grace expiry): once it is closed, this side drains what it is owed and ends.
 */
function whenPeerClosed(side: Side, phase: ClosePhase) {
  return {
    guard: peerClosed(side),
    target: flushingTarget(side),
    actions: [endSocket(side), setReason(side, 'peer_closed', phase)],
  } as const;
}

/**
 * Once the other side is closed, a side with nothing left to flush (its FIN already out) has
 * nothing more to do: whatever its peer still sends could go nowhere, so it closes at once
 * instead of reading and discarding until the grace period ends.
 */
function closeWhenPeerClosed(side: Side, phase: ClosePhase, onceFlushed = false) {
  return {
    guard: onceFlushed ? and([peerClosed(side), { type: 'flushed', params: { side } }]) : peerClosed(side),
    target: closedTarget(side),
    actions: [destroySocket(side), setReason(side, 'peer_closed', phase)],
  } as const;
}

function abortTransition(side: Side, phase: ClosePhase) {
  return { target: closedTarget(side), actions: [destroySocket(side), forceReason(side, 'aborted', phase)] } as const;
}

/** Transitions every live (not yet flushing) state of a side shares. */
function liveTransitions(side: Side, phase: ClosePhase) {
  return {
    ERROR: {
      guard: self(side),
      target: closedTarget(side),
      actions: [destroySocket(side), setErrorReason(side, phase)],
    },
    CLOSE: { guard: self(side), target: closedTarget(side), actions: [setReason(side, 'closed', phase)] },
    TIMEOUT: [
      {
        guard: and([self(side), 'timeoutCloses']),
        target: flushingTarget(side),
        // A proxy decision, like SHUTDOWN and EXPIRE: it overrides a half-close reason.
        actions: [endSocket(side), forceReason(side, 'timeout', phase)],
      },
      { guard: and([self(side), 'timeoutResets']), actions: [refreshTimeout(side)] },
    ],
    SHUTDOWN: { target: flushingTarget(side), actions: [endSocket(side), setReasonFromEvent(side, phase)] },
    EXPIRE: { target: flushingTarget(side), actions: [endSocket(side), setReasonFromEvent(side, phase)] },
    ABORT: abortTransition(side, phase),
  };
}

/** The `open → draining → closed` states of one side. */
function sideStates(side: Side) {
  const halfClosed = liveTransitions(side, 'half_closed');
  return {
    open: {
      always: whenPeerClosed(side, 'open'),
      on: {
        ...liveTransitions(side, 'open'),
        END: [
          {
            guard: and([self(side), 'halfOpenDisallowed']),
            target: flushingTarget(side),
            actions: [
              markReadEnded(side),
              setReason(side, 'fin', 'open'),
              endSocket(side),
            ],
          },
          {
            guard: self(side),
            target: 'draining.readEnded',
            actions: [markReadEnded(side), setReason(side, 'fin', 'open')],
          },
          {
            guard: peer(side),
            target: 'draining.flushing',
            actions: [endSocket(side), setReason(side, 'peer_fin', 'open')],
          },
        ],
      },
    },
    draining: {
      initial: 'flushing',
      states: {
        /** The peer of this side sent FIN; we keep writing to it what the other side sends. */
        readEnded: {
          always: whenPeerClosed(side, 'half_closed'),
          on: {
            ...halfClosed,
            END: { guard: peer(side), target: 'flushing', actions: [endSocket(side)] },
          },
        },
        /** We ended this side and our FIN went out; its peer may still send (half-open). */
        writeEnded: {
          always: closeWhenPeerClosed(side, 'half_closed'),
          on: {
            ...halfClosed,
            // Our FIN is long gone, so there is nothing left to flush: an expired connection
            // closes this side at once instead of waiting out the grace period.
            EXPIRE: { target: closedTarget(side), actions: [destroySocket(side), setReasonFromEvent(side, 'half_closed')] },
            END: { guard: self(side), target: 'flushing', actions: [markReadEnded(side)] },
          },
        },
        /**
         * Waiting for our writes to flush and the socket to close, bounded by the grace period;
         * once they have flushed and the other side is closed, there is nothing left to wait for.
         */
        flushing: {
          always: closeWhenPeerClosed(side, 'draining', true),
          after: {
            gracePeriod: {
              target: closedTarget(side),
              actions: [destroySocket(side), { type: 'setGraceReason', params: { side } }],
            },
          },
          on: {
            // Half-open only when we ended this side to forward a FIN and both peers live on;
            // a side the proxy itself decided to close stays here, bounded by the grace period.
            FINISHED: [
              {
                guard: and([self(side), { type: 'forwardingFin', params: { side } }, not({ type: 'readEnded', params: { side } }), not(peerClosed(side))]),
                target: 'writeEnded',
                actions: { type: 'markFlushed', params: { side } },
              },
              { guard: self(side), actions: { type: 'markFlushed', params: { side } } },
            ],
            END: { guard: self(side), actions: [markReadEnded(side)] },
            CLOSE: {
              guard: self(side),
              target: closedTarget(side),
              actions: [setReason(side, 'closed', 'draining')],
            },
            ERROR: {
              guard: self(side),
              target: closedTarget(side),
              actions: [destroySocket(side), setErrorReason(side, 'draining')],
            },
            ABORT: abortTransition(side, 'draining'),
          },
        },
      },
    },
    closed: { type: 'final' },
  } as const;
}

/** The upstream's extra first state: the connect attempt, bounded by `connectTimeout`. */
const connecting = {
  // The client is gone before the upstream answered: end it (Node queues the FIN) so the
  // client's last bytes still reach it once connected.
  always: {
    guard: and(['clientClosed', not('serverEndPending')]),
    actions: [endSocket('server'), 'markServerEndPending', setReason('server', 'peer_closed', 'connecting')],
  },
  after: {
    connectTimeout: {
      target: closedTarget('server'),
      actions: [destroySocket('server'), forceReason('server', 'connect_timeout', 'connecting')],
    },
  },
  on: {
    CONNECTED: [
      { guard: 'serverEndPending', target: 'draining.flushing', actions: 'markConnected' },
      { target: 'open', actions: 'markConnected' },
    ],
    ERROR: {
      guard: self('server'),
      target: 'closed',
      actions: [destroySocket('server'), setErrorReason('server', 'connecting')],
    },
    CLOSE: { guard: self('server'), target: 'closed', actions: [forceReason('server', 'connect_error', 'connecting')] },
    END: {
      guard: peer('server'),
      actions: [
        endSocket('server'),
        'markServerEndPending',
        setReason('server', 'peer_fin', 'connecting'),
      ],
    },
    SHUTDOWN: {
      actions: [endSocket('server'), 'markServerEndPending', setReasonFromEvent('server', 'connecting')],
    },
    EXPIRE: {
      actions: [endSocket('server'), 'markServerEndPending', setReasonFromEvent('server', 'connecting')],
    },
    ABORT: abortTransition('server', 'connecting'),
  },
} as const;

const toDone = { guard: 'bothSidesClosed', target: 'done' } as const;
const done = { type: 'final' } as const;

/**
 * The lifecycle of one proxied connection. Parallel regions:
 * - `client` and `server`: each `open → draining → closed` (`server` starts in `connecting`);
 * - `watch`: connection-wide timers (socket timeout, idle timeout, max lifetime, parity,
 *   first byte),
 *   each of which finishes by itself once both sides are closed.
 *
 * The machine is done exactly when `client` and `server` are both `closed`.
 *
 * @example
 * ```ts
 * import { createActor } from 'xstate';
 * const actor = createActor(connectionMachine, { input: { gracePeriod: 1000 } }).start();
 * actor.send({ type: 'CONNECTED' });
 * actor.send({ type: 'END', side: 'client' });
 * ```
 */
export const connectionMachine = connectionSetup.createMachine({
  id: 'connection',
  type: 'parallel',
  context: ({ input }) => ({
    settings: { ...DEFAULT_SETTINGS, ...input },
    reasons: { client: null, server: null },
    ending: null,
    errors: { client: null, server: null },
    readEnded: { client: false, server: false },
    flushed: { client: false, server: false },
    serverEndPending: false,
    connected: false,
    bytes: { clientToServer: 0, serverToClient: 0 },
  }),
  // XState drops this root handler when a region handles ACTIVITY itself, so every
  // ACTIVITY transition below records the bytes too (the assign is idempotent).
  on: { ACTIVITY: { actions: 'recordBytes' } },
  output: ({ context }) => ({ reasons: context.reasons, ending: context.ending, errors: context.errors, bytes: context.bytes }),
  states: {
    client: { initial: 'open', states: sideStates('client') },
    server: { initial: 'connecting', states: { connecting, ...sideStates('server') } },
    watch: {
      type: 'parallel',
      states: {
        /** Socket idle timeout, the same for both sides: a proxy moves the same bytes on each. */
        timeout: {
          initial: 'check',
          states: {
            check: { always: [{ guard: 'socketTimeoutEnabled', target: 'armed' }, { target: 'done' }] },
            armed: {
              always: toDone,
              after: {
                socketTimeout: [
                  { guard: 'timeoutResets', target: 'armed', reenter: true, actions: ['raiseClientTimeout', 'raiseServerTimeout'] },
                  { target: 'fired', actions: ['raiseClientTimeout', 'raiseServerTimeout'] },
                ],
              },
              on: { ACTIVITY: { target: 'armed', reenter: true, actions: 'recordBytes' } },
            },
            fired: { always: toDone, on: { ACTIVITY: { target: 'armed', actions: 'recordBytes' } } },
            done,
          },
        },
        /** Both directions silent for `idleTimeout`. */
        idle: {
          initial: 'check',
          states: {
            check: { always: [{ guard: 'idleTimeoutEnabled', target: 'watching' }, { target: 'done' }] },
            watching: {
              always: toDone,
              after: { idleTimeout: { target: 'done', actions: 'expireIdle' } },
              on: { ACTIVITY: { target: 'watching', reenter: true, actions: 'recordBytes' } },
            },
            done,
          },
        },
        /** Hard cap on the connection's age. */
        lifetime: {
          initial: 'check',
          states: {
            check: { always: [{ guard: 'maxLifetimeEnabled', target: 'running' }, { target: 'done' }] },
            running: { always: toDone, after: { maxLifetime: { target: 'done', actions: 'expireLifetime' } } },
            done,
          },
        },
        /**
         * The client must send its first byte within `firstByteTimeout` (slowloris). A byte
         * ends the wait, seen at the checkpoint the runtime takes before any timer fires; so
         * does a client that is no longer open (its FIN, an error, the connection ending).
         */
        firstByte: {
          initial: 'check',
          states: {
            check: { always: [{ guard: 'firstByteTimeoutEnabled', target: 'waiting' }, { target: 'done' }] },
            waiting: {
              always: { guard: not(stateIn({ client: 'open' })), target: 'done' },
              after: { firstByteTimeout: { target: 'done', actions: 'expireFirstByte' } },
              on: { ACTIVITY: { guard: 'clientSent', target: 'done', actions: 'recordBytes' } },
            },
            done,
          },
        },
        /** Inactivity, tracked only once a side has half-closed (parity needs it then). */
        activity: {
          initial: 'off',
          states: {
            off: { always: [toDone, { guard: 'halfClosed', target: 'active' }] },
            active: {
              always: toDone,
              after: { parityInactivity: 'quiet' },
              on: { ACTIVITY: { target: 'active', reenter: true, actions: 'recordBytes' } },
            },
            quiet: { always: toDone, on: { ACTIVITY: { target: 'active', actions: 'recordBytes' } } },
            done,
          },
        },
        /** One side half-closed or closed while the other stays open: close when also inactive. */
        parity: {
          initial: 'waiting',
          states: {
            waiting: { always: [toDone, { guard: 'halfClosed', target: 'armed' }] },
            armed: { always: toDone, after: { parityTimeout: 'expired' } },
            expired: { always: [toDone, { guard: 'inactive', target: 'done', actions: 'expireParity' }] },
            done,
          },
        },
      },
    },
  },
});

/** The connection machine's type, for typed snapshots and runtimes. */
export type ConnectionMachine = typeof connectionMachine;
