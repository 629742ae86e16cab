import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { BodyBudget } from '../edge/budget.ts';
import { capDiscardedBody } from '../edge/drain.ts';
import { FlexdError, isFlexdError } from '../errors.ts';
import { secretsEqual } from '../secrets.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { answerBodyText, answerFromTask } from './answer.ts';
import { isJsonContentType, parseJsonBody } from './body.ts';
import type { EnvironmentDirectory } from './directory.ts';
import { readBody } from './read-body.ts';
import { receiverDialect } from './receiver-dialect.ts';
import { routeRequest } from './task.ts';
import type { FlexRequest } from './types.ts';

/** The SDK's own answer to a missing or wrong shared secret (PROTOCOL.md §1.4), given at the edge. */
const INVALID_CREDENTIALS = {
  error: 'InvalidCredentials',
  description: 'Invalid credentials.  Please retry your request with correct credentials.',
  debug: 'The Authorization Key was not valid or missing.',
};

/**
 * What a client without the right X-Auth-Key may make flexd read on a route that checks it: the
 * SDK echoes a functions request in its 401 (`{request, response}`), so a small body is read to
 * answer as the SDK would; a larger one is not read (Content-Length) or read no further, and the
 * 401 carries an empty body. Either way such a client costs at most this much memory.
 */
export const UNAUTHENTICATED_BODY_BYTES = 64 * 1024;

export interface DataPlaneDeps {
  /** where `/flex/{service}/{environment}` is resolved, in memory (never a database round trip per request) */
  directory: EnvironmentDirectory;
  supervisor: Supervisor;
  bodyLimitBytes: number;
  /** every data-plane body at once holds at most this many bytes (default: no limit) */
  bodyBudget?: BodyBudget;
  /** metrics: called once the environment is known (src/metrics/registry.ts) */
  observe?: (environmentId: string, res: ServerResponse) => void;
}

interface Deps extends DataPlaneDeps { budget: BodyBudget }

/**
 * `/flex/{service}/{environment}/…`: the SDK's local routes, per environment. Builds the task
 * as the SDK's receiver would, checks the shared secret before any replica is touched, sends
 * the task to a replica and projects the completed task back as that receiver would. Runs on
 * Node's http directly: this is the hot path, and it streams the body limit itself.
 */
export function createDataPlane(dataPlaneDeps: DataPlaneDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const deps: Deps = {
    ...dataPlaneDeps,
    budget: dataPlaneDeps.bodyBudget ?? new BodyBudget(Number.POSITIVE_INFINITY),
  };
  return (req, res) => {
    const requestId = header(req, 'x-kinvey-request-id') || randomUUID();
    handle(deps, req, res, requestId).catch((err) => sendError(res, err, requestId));
  };
}

async function handle(deps: Deps, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  // pathname = /flex/{service}/{environment}{rest}
  const parts = pathname.split('/');
  const service = decodeSegment(parts[2]);
  const environment = decodeSegment(parts[3]);
  const rest = parts.length > 4 ? `/${parts.slice(4).join('/')}` : '/';

  const env = service === undefined || environment === undefined ? undefined : await deps.directory.resolve(service, environment);
  if (!env) {
    req.resume();
    throw new FlexdError('ServiceNotFound', `No service environment at /flex/${parts[2] ?? ''}/${parts[3] ?? ''}.`, { status: 404 });
  }
  deps.observe?.(env.id, res);

  // The secret is checked before the body is read: without it, a route that checks it reads at
  // most UNAUTHENTICATED_BODY_BYTES (issue 9, finding 3).
  const authorised = !env.secret || secretsEqual(header(req, 'x-auth-key'), env.secret);
  const lease = deps.budget.lease();
  res.once('close', () => lease.release());
  let raw: Buffer;
  if (authorised || !checksSecret(req.method ?? 'GET', rest, rawQuery)) {
    raw = await readBody(req, deps.bodyLimitBytes, lease);
  } else {
    raw = await readBody(req, UNAUTHENTICATED_BODY_BYTES, lease).catch(() => EMPTY);
    capDiscardedBody(req, deps.bodyLimitBytes);
  }
  // The receiver of the serving version's SDK (receiver-dialect.ts): its body limit, its task shape.
  const dialect = receiverDialect(deps.supervisor.receiverOf(env.id));
  if (dialect.bodyLimitBytes !== null && raw.length > dialect.bodyLimitBytes && isJsonContentType(req.headers['content-type'])) {
    throw new FlexdError('RequestEntityTooLarge', `The request body is larger than the service's limit of ${dialect.bodyLimitBytes} bytes.`,
      { status: 413, debug: `kinvey-code-task-runner ${dialect.version} reads JSON bodies of up to ${dialect.bodyLimitBytes} bytes` });
  }
  const body = parseJsonBody(req.headers['content-type'], raw);
  if (!body.ok) {
    throw new FlexdError('BadRequest', 'Unable to understand request', { status: body.status, debug: body.debug });
  }
  const route = routeRequest(new NodeFlexRequest(req, rest, rawQuery, body.value), dialect);
  if (route.kind === 'healthcheck') {
    // Healthy only where a version serves; otherwise what any other route would get.
    deps.supervisor.checkServing(env.id);
    sendJson(res, 200, { healthy: true }, { 'X-Request-Id': requestId });
    return;
  }
  if (route.kind === 'notFound') {
    throw new FlexdError('NotFound', 'The requested route does not exist.', { status: 404, debug: `Cannot ${route.method} ${route.path}` });
  }
  if (route.kind === 'options') {
    res.writeHead(200, { Allow: route.allow, 'Content-Type': 'text/html; charset=utf-8', 'X-Request-Id': requestId });
    res.end(route.allow);
    return;
  }
  if (route.kind === 'error') {
    throw new FlexdError(route.status === 400 ? 'BadRequest' : 'InternalError', route.status === 400 ? 'Unable to understand request' : 'flexd could not build the task.',
      { status: route.status, debug: route.debug });
  }
  let completed;
  let version: string | undefined;
  if (route.checksSecret && !authorised) {
    completed = rejectAsTheSdkWould(route.task);
  } else {
    const outcome = await deps.supervisor.dispatch(env.id, route.task);
    version = outcome.version;
    if (outcome.kind === 'failed') {
      sendJson(res, 500, {
        error: 'FlexRuntimeError',
        description: 'The Flex Service had a runtime error.  See debug message for details',
        // The stack (project paths made relative by the supervisor) names the user's file and line.
        debug: outcome.error.stack || `${outcome.error.name}: ${outcome.error.message}`,
      }, { 'X-Request-Id': requestId, 'X-Flexd-Version': version });
      return;
    }
    completed = outcome.task;
  }
  const answer = answerFromTask(completed, dialect);
  const text = answerBodyText(answer);
  // The answer's own headers (a fresh object), then flexd's, in this order on the wire.
  const headers = answer.headers;
  headers['X-Request-Id'] = requestId;
  if (version !== undefined) headers['X-Flexd-Version'] = version;
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(answer.status, answer.status === 550 ? 'unknown' : undefined, headers);
  res.end(text);
}

/**
 * The router's view of a Node request. A class rather than an object literal with an arrow: one
 * is made for every request, and a closure per request costs allocation (and, under tsx, a
 * `__name` call each).
 */
class NodeFlexRequest implements FlexRequest {
  readonly method: string;

  constructor(private readonly req: IncomingMessage, readonly path: string, readonly rawQuery: string, readonly body: unknown) {
    this.method = req.method ?? 'GET';
  }

  header(name: string): string | undefined {
    return header(this.req, name);
  }
}

/**
 * The shared secret is checked here, before any replica is touched, but the answer is the one
 * the SDK gives (flex.js checks it first thing): the task's response becomes the
 * InvalidCredentials error, so the functions route still answers `{request, response}`.
 */
function rejectAsTheSdkWould(task: Record<string, any>): Record<string, any> {
  task.response = task.response || {};
  task.response.body = { ...INVALID_CREDENTIALS };
  task.response.statusCode = 401;
  task.response.continue = false;
  return task;
}

const EMPTY = Buffer.alloc(0);

/** Whether the route of this request checks the shared secret (its task does not depend on the body). */
function checksSecret(method: string, path: string, rawQuery: string): boolean {
  const route = routeRequest({ method, path, rawQuery, header: noHeader, body: {} });
  return route.kind === 'task' && route.checksSecret;
}

function noHeader(): undefined {
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[lowerCase(name)];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Header names as Node keys them: the router asks for the same dozen on every request. */
const lowerNames = new Map<string, string>();

function lowerCase(name: string): string {
  let lower = lowerNames.get(name);
  if (lower === undefined) {
    if (lowerNames.size >= 256) lowerNames.clear();
    lower = name.toLowerCase();
    lowerNames.set(name, lower);
  }
  return lower;
}

function decodeSegment(segment: string | undefined): string | undefined {
  if (!segment) return undefined;
  try {
    const decoded = decodeURIComponent(segment);
    return decoded.includes('\0') || decoded.length > 256 ? undefined : decoded;
  } catch {
    return undefined;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, status === 550 ? 'unknown' : undefined, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** flexd's own errors on the data plane, in the Kinvey shape `{error, description, debug}`. */
function sendError(res: ServerResponse, err: unknown, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = isFlexdError(err) ? err : new FlexdError('InternalError', 'flexd could not handle the request.', { status: 500, debug: (err as Error)?.message ?? String(err) });
  const headers: Record<string, string> = { 'X-Request-Id': requestId };
  if (e.retryAfterSeconds !== undefined) headers['Retry-After'] = String(e.retryAfterSeconds);
  sendJson(res, e.status, { error: e.code, description: e.message, debug: e.debug }, headers);
}
