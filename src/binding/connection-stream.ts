import { Subject, type Observable } from 'rxjs';
import type { CloseInfo, Connection } from './connection.js';

/**
 * A sampling tick's checkpoint of a connection whose counts moved since its previous message.
 * One object per stream, reused for every activity message (a tick would otherwise allocate
 * one per active connection): read it synchronously, do not keep it.
 */
export interface ActivityMessage {
  readonly type: 'activity';
  readonly connection: Connection;
  /** When the tick sampled the connection, on its clock. */
  readonly t: number;
  /** Bytes read from each side so far. */
  readonly clientToServer: number;
  readonly serverToClient: number;
  /** Bytes since this connection's previous message on the stream. */
  readonly addedClientToServer: number;
  readonly addedServerToClient: number;
}

/** A connection's final state: both regions final, sockets released. Once per connection. */
export interface FinalMessage {
  readonly type: 'final';
  readonly connection: Connection;
  readonly info: CloseInfo;
  /** Bytes since this connection's previous message: with them the stream has carried all of them. */
  readonly addedClientToServer: number;
  readonly addedServerToClient: number;
}

/** What connections publish to whoever supervises them. */
export type ConnectionMessage = ActivityMessage | FinalMessage;

/** Where a supervisor keeps its stream: internal, for tests that watch the flow. */
export const kConnectionStream = Symbol('proxy-lifecycle.connectionStream');

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The one stream the connections of a supervisor (or of lone `forward()` calls) publish their
 * activity checkpoints and final states on. Its subscribers are a fixed few (the supervisor's
 * sampling and disposal), never one per connection; they are called synchronously, in the
 * order they subscribed.
 */
export class ConnectionStream {
  /** Every message, as it is published. */
  readonly messages$: Observable<ConnectionMessage>;
  private readonly subject = new Subject<ConnectionMessage>();
  private readonly activity: Mutable<ActivityMessage>;
  /** An activity message is being delivered: a nested one must not overwrite it. */
  private delivering = false;

  constructor() {
    this.messages$ = this.subject.asObservable();
    this.activity = this.blankActivity();
  }

  /** Publishes a tick's checkpoint of `connection` (see {@link ActivityMessage}). */
  publishActivity(connection: Connection, t: number, clientToServer: number, serverToClient: number, addedClientToServer: number, addedServerToClient: number): void {
    // A subscriber that ticks a clock from inside its callback gets a message of its own.
    const message = this.delivering ? this.blankActivity() : this.activity;
    message.connection = connection;
    message.t = t;
    message.clientToServer = clientToServer;
    message.serverToClient = serverToClient;
    message.addedClientToServer = addedClientToServer;
    message.addedServerToClient = addedServerToClient;
    const nested = this.delivering;
    this.delivering = true;
    try {
      this.subject.next(message);
    } finally {
      this.delivering = nested;
      // Not kept past its delivery: a disposed connection must not stay reachable from here.
      message.connection = null as unknown as Connection;
    }
  }

  /** Publishes the final state of `connection` (see {@link FinalMessage}). */
  publishFinal(connection: Connection, info: CloseInfo, addedClientToServer: number, addedServerToClient: number): void {
    this.subject.next({ type: 'final', connection, info, addedClientToServer, addedServerToClient });
  }

  /** No connection will publish again: subscribers complete. */
  complete(): void {
    this.subject.complete();
  }

  private blankActivity(): Mutable<ActivityMessage> {
    return { type: 'activity', connection: null as unknown as Connection, t: 0, clientToServer: 0, serverToClient: 0, addedClientToServer: 0, addedServerToClient: 0 };
  }
}
