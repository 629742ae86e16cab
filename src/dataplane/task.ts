/**
 * Turns a data-plane HTTP request into the Flex task the SDK's own HTTP receiver
 * (`kinvey-code-task-runner@2.4.0` `lib/receivers/httpReceiver.js`, or the older version the
 * service's SDK pins: receiver-dialect.ts) would build for it,
 * including Express 4.16's routing (route order, case-insensitive paths, optional
 * trailing slash, decoded params, `next('route')`, automatic HEAD and OPTIONS).
 *
 * Field order follows the receiver's middleware order: the functions answer echoes
 * `request` and `response` whole, so order is visible to clients.
 */
import type qs from 'qs';
import { loadLater } from '../load-later.ts';
import { CURRENT_DIALECT, type ReceiverDialect } from './receiver-dialect.ts';
import type { FlexRequest, FlexTask } from './types.ts';

/** qs is loaded by the first request with a query string, not by the data plane's start. */
const loadQs = loadLater<typeof qs>('qs');

export type Route =
  /** `GET /healthcheck`: answer `200 {"healthy":true}` without touching a replica, when a version serves. */
  | { kind: 'healthcheck' }
  /** `checksSecret`: the SDK compares `authKey` with the shared secret (data, functions, auth; not discovery). */
  | { kind: 'task'; task: FlexTask; checksSecret: boolean }
  /** Express's default 404 (`Cannot PATCH /widgets/abc`). `path` is the request path, raw. */
  | { kind: 'notFound'; method: string; path: string }
  /** Express answers an OPTIONS request itself: `200`, `Allow: <allow>`, body `<allow>`. */
  | { kind: 'options'; allow: string }
  /**
   * Express would answer an HTML error page with this status: 400 for a route parameter
   * that is not valid percent-encoding, 500 for a functions body whose `method` is not a string.
   */
  | { kind: 'error'; status: 400 | 500; debug: string };

type Verb = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Params = Record<string, string | undefined>;
type Body = Record<string, any>;

/** What a route handler returns: an answer, or `'nextRoute'` to fall through like `next('route')`. */
type Outcome = Route | 'nextRoute';

interface RouteDef {
  verb: Verb;
  regexp: RegExp;
  keys: string[];
  handle(req: FlexRequest, params: Params, body: Body, dialect: ReceiverDialect): Outcome;
}

/** Raised while building a task where the receiver's middleware would throw. */
class RouteError extends Error {
  constructor(readonly status: 400 | 500, readonly debug: string) {
    super(debug);
  }
}

/**
 * Compiles an Express 4 route path the way path-to-regexp 0.1.7 does with Express's
 * defaults (case-insensitive, non-strict: one trailing slash allowed, anchored at the end).
 */
function compile(path: string): { regexp: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path.replace(/\/$/, '').replace(/\/:(\w+)(\?)?|\/([^/:]+)/g, (_all, key, optional, literal) => {
    if (literal !== undefined) return '/' + String(literal).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    keys.push(key);
    return optional ? '(?:/([^/]+?))?' : '/([^/]+?)';
  });
  return { regexp: new RegExp(`^${source}/?$`, 'i'), keys };
}

function route(verb: Verb, path: string, handle: RouteDef['handle']): RouteDef {
  return { verb, ...compile(path), handle };
}

/** Express's `decode_param`: a bad escape is a 400 for the whole request. */
function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new RouteError(400, `Failed to decode param '${value}'`);
  }
}

/** qs 6.5's decoder: `+` is a space, and a bad escape leaves the text as it was. */
function decodeQueryComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * Express's "extended" query parser: qs with `allowPrototypes`. Express 4.16 pins qs 6.5,
 * which predates the CVE-2022-24999 fix; flexd uses the maintained qs, with `arrayLimit: 21`
 * to reproduce 6.5's `index <= 20` rule and 6.5's decoder. The corners that still differ
 * (more than 21 values of one key, `a[b]=1&a=2`, unclosed brackets, a nested `__proto__`)
 * are pinned in test/dataplane/query.test.ts.
 */
function parseQuery(rawQuery: string): Record<string, unknown> {
  if (rawQuery === '') return {};
  return loadQs().parse(rawQuery, { allowPrototypes: true, arrayLimit: 21, decoder: decodeQueryComponent }) as Record<string, unknown>;
}

/** `JSON.parse(header) || {}`, and `{}` when the header is absent or not JSON. */
function jsonHeader(value: string | undefined): unknown {
  // Most requests carry none of these headers: no SyntaxError made and thrown for each (a
  // thrown error captures a stack; 2.8 % of flexd's busy time under the bench's load).
  if (value === undefined || value === '') return {};
  try {
    return JSON.parse(value as string) || {};
  } catch {
    return {};
  }
}

/**
 * The task every non-discovery route starts from (the receiver's `generateBaseTask`).
 * `methodOverride` is the functions body's `method`, which wins over the HTTP method.
 */
function baseTask(req: FlexRequest, body: Body, dialect: ReceiverDialect, methodOverride?: unknown): FlexTask {
  const method = methodOverride || req.method;
  if (typeof method !== 'string') {
    throw new RouteError(500, 'the body field "method" must be a string');
  }
  const fromBody: Body = dialect.responseFromBody && body.response ? body.response : {};
  return {
    appId: req.header('X-Kinvey-Environment-Id') || '',
    appMetadata: jsonHeader(req.header('X-Kinvey-App-Metadata')),
    authKey: req.header('X-Auth-Key'),
    requestId: req.header('X-Kinvey-Request-Id') || '',
    method: method.toUpperCase(),
    request: {
      method,
      headers: jsonHeader(req.header('X-Kinvey-Original-Request-Headers')),
      username: req.header('X-Kinvey-Username') || '',
      userId: req.header('X-Kinvey-User-Id') || '',
    },
    response: {
      // Raw header strings, not parsed: the receiver passes them on as they came.
      status: req.header('X-Kinvey-Response-Status') || fromBody.status || 0,
      headers: req.header('X-Kinvey-Response-Headers') || fromBody.headers || {},
      body: req.header('X-Kinvey-Response-Body') || fromBody.body || {},
    },
  };
}

function dataTask(req: FlexRequest, params: Params, body: Body, dialect: ReceiverDialect): FlexTask {
  const task = baseTask(req, body, dialect);
  task.taskType = 'data';
  task.request.serviceObjectName = params.serviceObjectName;
  return task;
}

/** The URL query when it has any key, else a non-empty `bodyQuery` (functions only). */
function appendQuery(task: FlexTask, req: FlexRequest, bodyQuery?: any): void {
  const urlQuery = parseQuery(req.rawQuery);
  if (Object.keys(urlQuery).length > 0) task.request.query = urlQuery;
  else if (bodyQuery && Object.keys(bodyQuery).length > 0) task.request.query = bodyQuery;
}

function appendId(task: FlexTask, id: string | undefined, bodyEntityId?: unknown): void {
  if (id) task.request.entityId = id;
  else if (bodyEntityId) task.request.entityId = bodyEntityId;
}

function taskRoute(task: FlexTask): Route {
  return { kind: 'task', task, checksSecret: true };
}

/** The receiver's router, in registration order. */
const ROUTES: RouteDef[] = [
  route('GET', '/healthcheck', () => ({ kind: 'healthcheck' })),

  route('GET', '/:serviceObjectName/_count', (req, params, body, dialect) => {
    const task = dataTask(req, params, body, dialect);
    appendQuery(task, req);
    task.endpoint = '_count';
    return taskRoute(task);
  }),

  route('GET', '/:serviceObjectName/:id?', (req, params, body, dialect) => {
    const task = dataTask(req, params, body, dialect);
    appendQuery(task, req);
    appendId(task, params.id);
    return taskRoute(task);
  }),

  route('POST', '/:serviceObjectName/', (req, params, body, dialect) => {
    if (params.serviceObjectName === '_flexFunctions' || params.serviceObjectName === '_command') return 'nextRoute';
    const task = dataTask(req, params, body, dialect);
    task.request.body = body;
    return taskRoute(task);
  }),

  route('PUT', '/:serviceObjectName/:id', (req, params, body, dialect) => {
    const task = dataTask(req, params, body, dialect);
    appendId(task, params.id);
    task.request.body = body;
    return taskRoute(task);
  }),

  route('DELETE', '/:serviceObjectName/:id?', (req, params, body, dialect) => {
    const task = dataTask(req, params, body, dialect);
    appendId(task, params.id);
    appendQuery(task, req);
    return taskRoute(task);
  }),

  route('POST', '/_flexFunctions/:handlerName', (req, params, body, dialect) => {
    const task = baseTask(req, body, dialect, body.method);
    task.taskType = 'functions';
    task.request.objectName = body.objectName || '';
    task.taskName = params.handlerName;
    if (dialect.hookType) task.hookType = body.hookType || 'customEndpoint';
    if (dialect.tempObjectStore) task.request.tempObjectStore = body.tempObjectStore || {};
    appendQuery(task, req, body.query);
    appendId(task, undefined, body[dialect.functionsIdField]);
    // A body without a `body` key is used whole, envelope fields included.
    task.request.body = body.body || body;
    return taskRoute(task);
  }),

  route('POST', '/_auth/:handlerName', (req, params, body, dialect) => {
    const task = baseTask(req, body, dialect);
    task.taskType = 'auth';
    task.taskName = params.handlerName;
    task.request.body = { username: body.username, password: body.password, options: body.options };
    return taskRoute(task);
  }),

  route('POST', '/_command/discover', () => ({
    kind: 'task',
    task: { taskType: 'serviceDiscovery', request: {}, response: {} },
    checksSecret: false,
  })),
];

function allowedMethods(def: RouteDef): string[] {
  return def.verb === 'GET' ? ['GET', 'HEAD'] : [def.verb];
}

/** Matches `path` against one route and decodes its params; null when the pattern does not match. */
function matchParams(def: RouteDef, path: string): Params | null {
  const match = def.regexp.exec(path);
  if (!match) return null;
  const params: Params = {};
  def.keys.forEach((key, i) => {
    const value = match[i + 1];
    params[key] = value === undefined ? undefined : decodeParam(value);
  });
  return params;
}

/**
 * Routes one data-plane request as the SDK's receiver would, and builds its task.
 * HEAD is served by GET routes (with `method: 'HEAD'` in the task, as Express does).
 * `dialect` is the receiver version to imitate (receiver-dialect.ts; default: the current one).
 *
 * @example
 * routeRequest({ method: 'GET', path: '/widgets/abc', rawQuery: '', header: () => undefined, body: {} })
 * // { kind: 'task', checksSecret: true, task: { appId: '', …, taskType: 'data', request: { …, entityId: 'abc' } } }
 */
export function routeRequest(req: FlexRequest, dialect: ReceiverDialect = CURRENT_DIALECT): Route {
  const path = req.path === '' ? '/' : req.path;
  const verb = req.method.toUpperCase();
  const body: Body = typeof req.body === 'object' && req.body !== null ? (req.body as Body) : {};
  const allow: string[] = [];
  let pending: RouteError | undefined;

  for (const def of ROUTES) {
    let params: Params | null;
    try {
      params = matchParams(def, path);
    } catch (err) {
      // Express keeps looking, but no route matches once a param failed to decode.
      pending ??= err as RouteError;
      continue;
    }
    if (params === null || pending) continue;
    const handles = def.verb === verb || (verb === 'HEAD' && def.verb === 'GET');
    if (!handles) {
      if (verb === 'OPTIONS') allow.push(...allowedMethods(def).filter((m) => !allow.includes(m)));
      continue;
    }
    try {
      const outcome = def.handle(req, params, body, dialect);
      if (outcome !== 'nextRoute') return outcome;
    } catch (err) {
      if (err instanceof RouteError) return { kind: 'error', status: err.status, debug: err.debug };
      throw err;
    }
  }

  if (pending) return { kind: 'error', status: pending.status, debug: pending.debug };
  if (verb === 'OPTIONS' && allow.length > 0) return { kind: 'options', allow: allow.join(',') };
  return { kind: 'notFound', method: req.method, path };
}
