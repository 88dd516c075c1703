/**
 * A viewer of the inspector relay, as the relay's browser page is: it collects every message
 * the relay passes on. `ws` comes with @statelyai/inspect; it ships no types (@types/ws is not
 * installed), so the few members used here are declared.
 */
import * as assert from 'uvu/assert';
import { until } from './wait.js';

/** The few members of a `ws` client this test uses (`ws` ships no types; @types/ws is not installed). */
export interface WsClient {
  readonly readyState: number;
  on(event: 'open', listener: () => void): this;
  on(event: 'message', listener: (data: { toString(): string }) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  close(): void;
}
export type WsConstructor = new (url: string) => WsClient;

/** `ws` is installed as a dependency of @statelyai/inspect; imported by name, untyped. */
export async function loadWs(): Promise<WsConstructor> {
  const specifier = 'ws';
  const mod = (await import(specifier)) as { WebSocket?: WsConstructor; default?: WsConstructor };
  return (mod.WebSocket ?? mod.default)!;
}

export interface Relayed {
  type: string;
  name?: string;
  sessionId?: string;
  event?: { type: string; side?: string };
  snapshot?: { value?: unknown; status?: string; context?: { bytes?: { clientToServer: number; serverToClient: number } } };
}

/** A viewer of the relay: collects every message it relays. */
export class Viewer {
  readonly messages: Relayed[] = [];
  closed = false;
  private readonly socket: WsClient;

  constructor(WebSocket: WsConstructor, url: string) {
    this.socket = new WebSocket(url);
    this.socket.on('message', (data) => this.messages.push(JSON.parse(data.toString()) as Relayed));
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }

  async open(): Promise<void> {
    await until(() => this.socket.readyState === 1 || this.closed, 'viewer connected');
    assert.not.ok(this.closed, 'the relay accepted the viewer');
  }

  /** The ids of the actors (connections) the relay has told about. */
  sessions(): string[] {
    return [...new Set(this.messages.filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId!))];
  }

  of(sessionId: string): Relayed[] {
    return this.messages.filter((m) => m.sessionId === sessionId);
  }

  /** The final snapshot of an actor, once the relay has passed it on. */
  final(sessionId: string): Relayed | undefined {
    return this.of(sessionId).find((m) => m.type === '@xstate.snapshot' && m.snapshot?.status === 'done');
  }

  async close(): Promise<void> {
    this.socket.close();
    await until(() => this.closed, 'viewer closed');
  }
}
