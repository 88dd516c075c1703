/**
 * An optional logger. The library never writes to the console; it calls these when given
 * one (pino, bunyan and `console` all fit).
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}
