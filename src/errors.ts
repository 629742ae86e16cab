/**
 * flexd's typed errors. Every error flexd itself answers carries a stable `code`
 * (documented in docs/errors.md) and the HTTP status it maps to. Errors are mapped to
 * responses in one place per plane (dataplane/answer-error.ts, api/errors.ts).
 *
 * Across the IPC boundary or a worker an error loses its prototype: match on `code`,
 * never on `instanceof`.
 */
export class FlexdError extends Error {
  readonly code: string;
  readonly status: number;
  readonly debug: string;
  /** For 503s: how long the client should wait before retrying (the Retry-After header). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: string, message: string, options: { status?: number; debug?: string; cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlexdError';
    this.code = code;
    this.status = options.status ?? 400;
    this.debug = options.debug ?? '';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** True when `err` looks like a FlexdError, also after crossing a process or thread boundary. */
export function isFlexdError(err: unknown): err is FlexdError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    && typeof (err as { status?: unknown }).status === 'number';
}
