// Typed errors with stable codes (LB_<AREA>_<WHAT>). Callers and tests match on `code`,
// never on message text; the original error is kept as `cause`.

export type ErrorCode =
  | 'LB_CONFIG_INVALID'
  | 'LB_BIND_FAILED'
  | 'LB_CONNECT_TIMEOUT'
  | 'LB_CONNECT_FAILED'
  | 'LB_NO_BACKEND'
  | 'LB_USAGE';

export class LbError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'LbError';
  }
}

/** A listener could not bind its address (EADDRINUSE, EACCES, EADDRNOTAVAIL...). */
export class BindError extends LbError {
  readonly listener: string;
  readonly bind: string;
  readonly errno: string;
  constructor(listener: string, bind: string, cause: NodeJS.ErrnoException) {
    super('LB_BIND_FAILED', `listener ${listener}: cannot bind ${bind}: ${cause.code ?? cause.message}`, { cause });
    this.listener = listener;
    this.bind = bind;
    this.errno = cause.code ?? 'UNKNOWN';
    this.name = 'BindError';
  }
}
