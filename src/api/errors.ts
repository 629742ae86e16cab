import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { FlexdError, isFlexdError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';

/**
 * The one place management-API errors become responses, in Kinvey's shape
 * `{code, description, debug}` (kinvey-cli prints `code: description debug`).
 * A FlexdError keeps its code and status; anything else is a 500 that tells the client
 * nothing of the internals (the stack goes to flexd's stderr).
 */
export function errorResponse(err: unknown, c: Context, log: Logger = silentLogger): Response {
  // Refused before the body was read (a size cap, a deploy refused from its first fields): the
  // rest of the body is discarded, and the connection must not be reused while it still arrives.
  const incoming = (c.env as HttpBindings | undefined)?.incoming;
  if (incoming && !incoming.complete) c.header('Connection', 'close');
  if (isFlexdError(err)) {
    if (err.retryAfterSeconds !== undefined) c.header('Retry-After', String(err.retryAfterSeconds));
    return c.json({ code: err.code, description: err.message, debug: err.debug ?? '' }, err.status as ContentfulStatusCode);
  }
  if (err instanceof HTTPException) {
    return c.json({ code: err.status === 413 ? 'RequestTooLarge' : 'BadRequest', description: err.message || 'The request was refused.', debug: '' },
      err.status as ContentfulStatusCode);
  }
  log.error({ method: c.req.method, path: c.req.path, error: (err as Error)?.stack ?? String(err) }, 'management API request failed');
  return c.json({ code: 'InternalError', description: 'flexd could not complete the request; its log says why.', debug: '' }, 500);
}

export const serviceNotFound = (id: string) =>
  new FlexdError('ServiceNotFound', 'The specified service could not be found.', { status: 404, debug: `No service with id or name "${id}".` });

export const environmentNotFound = (id: string) =>
  new FlexdError('ServiceEnvironmentNotFound', 'The specified service environment could not be found.',
    { status: 404, debug: `No environment with id or name "${id}" in this service.` });
