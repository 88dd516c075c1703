/**
 * Every error the library throws or reports, each with a stable `code`.
 *
 * | code                          | class                  | when                                           |
 * |-------------------------------|------------------------|------------------------------------------------|
 * | `PL_ERR_INVALID_OPTION`       | `InvalidOptionError`   | an option is unknown or out of range           |
 * | `PL_ERR_LOG_PARSE`            | `EventLogParseError`   | an event log line is malformed or truncated    |
 * | `PL_ERR_SUPERVISOR_CLOSED`    | `SupervisorClosedError`| `forward()` after `shutdown()` started         |
 * | `PL_ERR_UPSTREAM`             | `UpstreamError`        | the upstream factory threw or returned no socket |
 */
export type ErrorCode =
  | 'PL_ERR_INVALID_OPTION'
  | 'PL_ERR_LOG_PARSE'
  | 'PL_ERR_SUPERVISOR_CLOSED'
  | 'PL_ERR_UPSTREAM';

/** Base class of errors that are not `TypeError`s. */
export class ProxyLifecycleError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyLifecycleError';
    this.code = code;
  }
}

/** A bad option. A `TypeError`, so callers that check for one keep working. */
export class InvalidOptionError extends TypeError {
  readonly code = 'PL_ERR_INVALID_OPTION' as const;
  /** The option's name as the caller spelled it. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(message);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}

/** A malformed or truncated event log; `line` is 1-based. */
export class EventLogParseError extends ProxyLifecycleError {
  readonly line: number;
  constructor(line: number, message: string) {
    super('PL_ERR_LOG_PARSE', `event log line ${line}: ${message}`);
    this.name = 'EventLogParseError';
    this.line = line;
  }
}

/** New work after `shutdown()` began. */
export class SupervisorClosedError extends ProxyLifecycleError {
  constructor() {
    super('PL_ERR_SUPERVISOR_CLOSED', 'the supervisor is shutting down and takes no new connections');
    this.name = 'SupervisorClosedError';
  }
}

/** The upstream factory threw, or gave back something that is not a socket. */
export class UpstreamError extends ProxyLifecycleError {
  constructor(message: string, cause?: unknown) {
    super('PL_ERR_UPSTREAM', message, { cause });
    this.name = 'UpstreamError';
  }
}
