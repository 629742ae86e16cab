/**
 * The request sequence of the differential test: the same requests, in the same order, sent to
 * the kitchen-sink fixture under `node .` and under flexd. The fixture keeps state in memory
 * (widgets inserted early are read, updated and deleted later), so the order is part of the test.
 *
 * Paths are templates: `{a}` is the `_id` a previous step saved from its own answer, so each run
 * uses the ids its own service generated. Labels keep the template, so both runs label a step
 * alike: `#17 GET /widgets/{a}`.
 *
 *   const answers = await runSequence(`${rt.url}/flex/kitchen/Development`, SECRET);
 */
import { fileURLToPath } from 'node:url';
import { withDeadline } from './wait.ts';

export const KITCHEN_SINK_DIR = fileURLToPath(new URL('../fixtures/kitchen-sink/', import.meta.url));

/** One request of the sequence may wait this long (the first one may meet a cold replica). */
export const SEQUENCE_REQUEST_TIMEOUT_MS = 30_000;

const APP_METADATA = {
  _id: 'kid_kitchen',
  applicationId: 'app-kitchen',
  appsecret: 'app-secret-1',
  mastersecret: 'master-secret-1',
  baasUrl: 'https://baas.example.invalid',
  maintenance: { objectid_migration: { status: 'done' } },
};

const ORIGINAL_REQUEST_HEADERS = {
  authorization: `Basic ${Buffer.from('kid_kitchen:app-secret-1').toString('base64')}`,
  'x-kinvey-client-app-version': '1.2.3',
  'x-kinvey-custom-request-properties': '{"tier":"gold"}',
  host: 'baas.example.invalid',
  'x-forwarded-proto': 'https',
};

/** Every context header the SDK's receiver reads, as the hosted runtime would send them. */
export const CONTEXT_HEADERS: Readonly<Record<string, string>> = {
  'X-Kinvey-App-Metadata': JSON.stringify(APP_METADATA),
  'X-Kinvey-Original-Request-Headers': JSON.stringify(ORIGINAL_REQUEST_HEADERS),
  'X-Kinvey-Username': 'alice',
  'X-Kinvey-User-Id': 'user-alice',
  'X-Kinvey-Environment-Id': 'kid_kitchen',
  'X-Kinvey-Request-Id': 'req-kitchen-1',
};

type Saved = Record<string, string>;

export interface Step {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Relative to the service's base URL; `{name}` is replaced by a saved id. */
  path: string;
  /** URL query, encoded by the runner. */
  query?: Record<string, string>;
  /** Sent as `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as is, with its own content type. */
  raw?: { body: string; contentType: string };
  /** `X-Auth-Key`: the right secret (default), none, or a wrong one. */
  auth?: 'secret' | 'missing' | 'wrong';
  /** Context headers: all of CONTEXT_HEADERS (default), none, or these instead. */
  context?: 'full' | 'none' | Record<string, string>;
  /** Why this step exists, when the path does not say it. */
  note?: string;
  /** Keeps values from this step's answer for later paths. */
  save?: (body: any, saved: Saved) => void;
}

export interface Answer {
  label: string;
  status: number;
  /** True when the answer's Content-Type is JSON. */
  json: boolean;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: unknown;
}

const contextWith = (overrides: Record<string, string>): Record<string, string> => ({ ...CONTEXT_HEADERS, ...overrides });
const nameA = { query: JSON.stringify({ name: 'a' }) };

export const SEQUENCE: readonly Step[] = [
  // Open routes: no secret needed.
  { method: 'GET', path: '/healthcheck', auth: 'missing', context: 'none' },
  { method: 'POST', path: '/_command/discover', auth: 'missing', context: 'none' },

  // The shared secret, checked on data, functions and auth routes.
  { method: 'GET', path: '/widgets', auth: 'missing', note: 'missing X-Auth-Key' },
  { method: 'GET', path: '/widgets', auth: 'wrong', note: 'wrong X-Auth-Key' },
  { method: 'POST', path: '/widgets', auth: 'missing', json: { name: 'intruder' }, note: 'missing X-Auth-Key; must not insert' },
  { method: 'POST', path: '/_flexFunctions/hello', auth: 'missing', json: {}, note: 'missing X-Auth-Key' },
  { method: 'POST', path: '/_auth/login', auth: 'wrong', json: { username: 'alice', password: 'pw' }, note: 'wrong X-Auth-Key' },

  // FlexData `widgets`: every operation, against a store that starts empty.
  { method: 'GET', path: '/widgets', note: 'onGetAll, empty' },
  { method: 'GET', path: '/widgets/_count', note: 'onGetCount, empty' },
  { method: 'POST', path: '/widgets', json: { name: 'a', size: 1 }, save: (b, s) => { s.a = b._id; } },
  { method: 'POST', path: '/widgets', json: { name: 'b', size: 2 }, save: (b, s) => { s.b = b._id; } },
  { method: 'POST', path: '/widgets', json: [{ name: 'a', size: 3 }, { name: 'c' }], note: 'array body: onInsertMany' },
  { method: 'POST', path: '/widgets', json: [{ name: 'd' }, { size: 5 }], note: 'onInsertMany, one without name' },
  { method: 'POST', path: '/widgets', json: { size: 9 }, note: 'no name: badRequest' },
  { method: 'POST', path: '/widgets', raw: { body: '{"name":"as text"}', contentType: 'text/plain' }, note: 'non-JSON content type reads as {}' },
  { method: 'POST', path: '/widgets', json: { _id: 'w-fixed', name: 'fixed' }, note: 'client-chosen _id is kept' },
  {
    method: 'POST', path: '/widgets', json: { name: 'legacy' },
    context: contextWith({ 'X-Kinvey-App-Metadata': JSON.stringify({ ...APP_METADATA, maintenance: { objectid_migration: { status: 'pending' } } }) }),
    note: 'objectid migration pending: _id is a BSON ObjectID object',
  },
  { method: 'GET', path: '/widgets/{a}' },
  { method: 'GET', path: '/widgets/w-fixed' },
  { method: 'GET', path: '/widgets/missing-id', note: 'notFound' },
  { method: 'GET', path: '/widgets', note: 'onGetAll' },
  { method: 'GET', path: '/widgets', query: nameA, note: 'onGetByQuery' },
  { method: 'GET', path: '/widgets', query: { name: 'b' }, note: 'any query string selects onGetByQuery' },
  { method: 'GET', path: '/widgets', query: { query: '{not json' }, note: 'handler answers badRequest' },
  { method: 'GET', path: '/widgets/_count', note: 'onGetCount' },
  { method: 'GET', path: '/widgets/_count', query: nameA, note: 'onGetCountByQuery' },
  { method: 'PUT', path: '/widgets/{a}', json: { name: 'a2', size: 10 } },
  { method: 'PUT', path: '/widgets/missing-id', json: { name: 'x' }, note: 'notFound' },
  { method: 'PUT', path: '/widgets/{b}', json: { size: 1 }, note: 'no name: badRequest' },
  { method: 'GET', path: '/widgets/{a}', note: 'after the update' },
  { method: 'DELETE', path: '/widgets/{b}' },
  { method: 'DELETE', path: '/widgets/{b}', note: 'already deleted: notFound' },
  { method: 'DELETE', path: '/widgets', query: nameA, note: 'onDeleteByQuery' },
  { method: 'GET', path: '/widgets/_count', note: 'after the deletes' },
  { method: 'DELETE', path: '/widgets', note: 'onDeleteAll' },
  { method: 'GET', path: '/widgets', note: 'empty again' },

  // A service object with one handler, and one that does not exist.
  { method: 'GET', path: '/gadgets' },
  { method: 'GET', path: '/gadgets/g1', note: 'unregistered operation: 501' },
  { method: 'POST', path: '/gadgets', json: { name: 'x' }, note: 'unregistered operation: 501' },
  { method: 'GET', path: '/tallies', note: 'a BigInt left in the request of a data task: the answer never shows it' },
  { method: 'GET', path: '/nosuch', note: 'unknown service object: 501, and now registered' },
  { method: 'GET', path: '/_command/discover', note: 'a GET is a data request for object _command' },
  { method: 'POST', path: '/_command/discover', auth: 'missing', context: 'none', note: 'lists nosuch and _command now' },

  // FlexFunctions.
  { method: 'POST', path: '/_flexFunctions/hello', query: { lang: 'en' }, json: { body: { greet: 'hi' } }, note: 'every context header' },
  { method: 'POST', path: '/_flexFunctions/hello', context: 'none', json: { greet: 'whole body' }, note: 'no context headers; a body without `body` is used whole' },
  {
    method: 'POST', path: '/_flexFunctions/hello',
    context: contextWith({ 'X-Kinvey-App-Metadata': '{not json', 'X-Kinvey-Original-Request-Headers': 'nope' }),
    json: { body: { x: 1 }, query: { page: '2' }, method: 'PATCH', objectName: 'widgets', entityId: 'e-1' },
    note: 'unparseable context headers read as {}; query, method, objectName, entityId from the body',
  },
  {
    method: 'POST', path: '/_flexFunctions/preRewrite',
    json: { hookType: 'pre', method: 'POST', objectName: 'widgets', body: { name: 'lower' }, query: { query: '{"name":"lower"}' } },
    note: 'pre-hook rewrites body and query',
  },
  {
    method: 'POST', path: '/_flexFunctions/postStamp',
    json: { hookType: 'post', objectName: 'widgets', body: {}, response: { status: 200, headers: { 'x-kinvey-api-version': '4' }, body: { name: 'out' } } },
    note: 'post-hook, response in the JSON body',
  },
  {
    method: 'POST', path: '/_flexFunctions/postStamp', json: { hookType: 'post', objectName: 'widgets' },
    context: contextWith({
      'X-Kinvey-Response-Status': '201',
      'X-Kinvey-Response-Headers': '{"x-kinvey-api-version":"4"}',
      'X-Kinvey-Response-Body': '{"name":"from header"}',
    }),
    note: 'post-hook, response in X-Kinvey-Response-* headers (raw strings)',
  },
  { method: 'POST', path: '/_flexFunctions/tempStore', json: { body: {}, tempObjectStore: { k: 'v' } } },
  {
    method: 'POST', path: '/_flexFunctions/tempStore', json: { tempObjectStore: { k: 'v' } },
    note: 'no `body` key: request.body and request.tempObjectStore are one object, so fromFn shows in both',
  },
  { method: 'POST', path: '/_flexFunctions/runtimeError', json: {}, note: '550' },
  { method: 'POST', path: '/_flexFunctions/runtimeError', json: { body: { asError: true } }, note: '550 with an Error as debug' },
  { method: 'POST', path: '/_flexFunctions/env', json: {} },
  { method: 'POST', path: '/_flexFunctions/version', json: {} },
  { method: 'POST', path: '/_flexFunctions/assets', json: {}, note: 'files read through __dirname' },
  { method: 'POST', path: '/_flexFunctions/names', json: {}, note: 'class names that collide in the bundle' },
  { method: 'POST', path: '/_flexFunctions/nosuchfn', json: {}, note: 'unknown function: 501' },

  // FlexAuth.
  { method: 'POST', path: '/_auth/login', json: { username: 'alice', password: 'pw', options: { scope: 'x' } } },
  { method: 'POST', path: '/_auth/login', json: { username: 'alice', password: 'wrong' }, note: 'accessDenied' },
  { method: 'POST', path: '/_auth/nosuch', json: { username: 'alice', password: 'pw' }, note: 'unknown auth handler' },

  { method: 'POST', path: '/_command/discover', auth: 'missing', note: 'final registry' },
];

/** `#7 POST /_auth/login (wrong X-Auth-Key)` */
export function stepLabel(step: Step, index: number): string {
  const query = step.query ? `?${decodeURIComponent(new URLSearchParams(step.query).toString())}` : '';
  return `#${index + 1} ${step.method} ${step.path}${query}${step.note ? ` (${step.note})` : ''}`;
}

/** After this many requests in a row without an answer the rest are not sent (a hung service). */
const MAX_UNANSWERED_IN_A_ROW = 3;

/**
 * Sends the whole SEQUENCE, in order, to a service at `baseUrl`, and returns one answer per step.
 * It never throws: a request that got no answer is recorded with status 0 and the reason as its
 * body, so one broken step still lets every other step be compared.
 */
export async function runSequence(baseUrl: string, secret: string, steps: readonly Step[] = SEQUENCE): Promise<Answer[]> {
  const saved: Saved = {};
  const answers: Answer[] = [];
  let unanswered = 0;
  for (const [index, step] of steps.entries()) {
    const label = stepLabel(step, index);
    if (unanswered >= MAX_UNANSWERED_IN_A_ROW) {
      answers.push({ label, status: 0, json: false, body: `not sent: ${unanswered} requests in a row got no answer` });
      continue;
    }
    const path = fillPath(step.path, saved);
    let answer: Answer;
    try {
      if (path === undefined) {
        answer = { label, status: 0, json: false, body: 'not sent: the step that saves its id got no success' };
      } else {
        answer = await send(`${baseUrl}${path}`, secret, step, label);
        unanswered = 0;
      }
    } catch (err) {
      answer = { label, status: 0, json: false, body: `no answer: ${String(err)}${causeOf(err)}` };
      unanswered += 1;
    }
    answers.push(answer);
    if (step.save && answer.status >= 200 && answer.status < 300) step.save(answer.body, saved);
  }
  return answers;
}

const causeOf = (err: unknown): string => (err instanceof Error && err.cause ? ` (${String(err.cause)})` : '');

/** The path with `{name}` replaced by saved ids; undefined when one was never saved. */
function fillPath(template: string, saved: Saved): string | undefined {
  let missing = false;
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (saved[name] === undefined) missing = true;
    return encodeURIComponent(saved[name] ?? '');
  });
  return missing ? undefined : path;
}

async function send(urlWithoutQuery: string, secret: string, step: Step, label: string): Promise<Answer> {
  const url = `${urlWithoutQuery}${step.query ? `?${new URLSearchParams(step.query)}` : ''}`;

  const headers: Record<string, string> = {};
  const context = step.context ?? 'full';
  if (context !== 'none') Object.assign(headers, context === 'full' ? CONTEXT_HEADERS : context);
  const auth = step.auth ?? 'secret';
  if (auth !== 'missing') headers['X-Auth-Key'] = auth === 'secret' ? secret : `${secret}-wrong`;

  let body: string | undefined;
  if (step.json !== undefined) {
    body = JSON.stringify(step.json);
    headers['Content-Type'] = 'application/json';
  } else if (step.raw) {
    body = step.raw.body;
    headers['Content-Type'] = step.raw.contentType;
  }

  // The signal ends a request that missed its deadline, so no socket outlives the run.
  const signal = AbortSignal.timeout(SEQUENCE_REQUEST_TIMEOUT_MS);
  const res = await withDeadline(label, fetch(url, { method: step.method, headers, body, signal }), SEQUENCE_REQUEST_TIMEOUT_MS);
  const text = await withDeadline(`${label}: body`, res.text(), SEQUENCE_REQUEST_TIMEOUT_MS);
  const json = /^application\/json\b/i.test(res.headers.get('content-type') ?? '');
  let parsed: unknown = text;
  if (json) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text; // labelled JSON but is not: compared as text, so the difference shows
    }
  }
  return { label, status: res.status, json, body: parsed };
}
