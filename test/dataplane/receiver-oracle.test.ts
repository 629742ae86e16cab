/**
 * Differential tests of the data plane's pure parts against the real thing: the SDK's own HTTP
 * receiver, in every version a published kinvey-flex-sdk pins (`kinvey-code-task-runner` 1.2.1,
 * 2.1.0 and 2.2.3 on Express 4.13 + body-parser 1.15; 2.3.1 and 2.4.0 on Express 4.16 +
 * body-parser 1.18), each installed from the registry once (helpers/sdk-trees.ts) and started
 * in-process. Each probe goes over HTTP to the receiver, whose task callback records the task it
 * was given and completes it with a canned mutation; the same probe goes to `routeRequest` with
 * that version's dialect, and the tasks must be deeply (strictly) equal, key for key. Then
 * `answerFromTask` must give the status and JSON body the receiver sent for the same completed task.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import Module, { createRequire } from 'node:module';
import { join } from 'node:path';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import semver from 'semver';
import { answerBodyText, answerFromTask } from '../../src/dataplane/answer.ts';
import { parseJsonBody } from '../../src/dataplane/body.ts';
import { receiverDialect, type ReceiverDialect } from '../../src/dataplane/receiver-dialect.ts';
import { routeRequest, type Route } from '../../src/dataplane/task.ts';
import type { FlexRequest, FlexTask } from '../../src/dataplane/types.ts';
import { SDK_VERSIONS, sdkTree, TASK_RUNNER_OF, type SdkVersion } from '../helpers/sdk-trees.ts';
import { withDeadline } from '../helpers/wait.ts';
// npm test: own process (it loads the SDK's receivers into this process and sets NODE_ENV for them).

/** One request, sent identically to the receiver and to `routeRequest`. */
interface Probe {
  name: string;
  method: string;
  /** Raw path, as it goes on the request line. */
  path: string;
  /** Raw query without `?`; undefined sends no `?` at all. */
  query?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Completes the task the receiver was given (default: 200 `{ok: true}`); null = no result. */
  complete?: (task: FlexTask) => FlexTask | null;
  /** Probed only against task runners from this version on (older ones never answer it). */
  since?: string;
}

interface Exchange { status: number; headers: http.IncomingHttpHeaders; text: string }

const JSON_TYPE = { 'Content-Type': 'application/json' };

/** Every context header the receiver reads, with well-formed values. */
const CONTEXT = {
  'X-Kinvey-App-Metadata': JSON.stringify({ _id: 'kid_abc', applicationId: 'app1', appsecret: 'as', mastersecret: 'ms', baasUrl: 'https://baas.example' }),
  'X-Kinvey-Original-Request-Headers': JSON.stringify({ authorization: 'Basic a2lkX2FiYzptcw==', host: 'baas.example', 'x-kinvey-api-version': '3' }),
  'X-Kinvey-Username': 'alice',
  'X-Kinvey-User-Id': 'u1',
  'X-Kinvey-Environment-Id': 'kid_abc',
  'X-Kinvey-Request-Id': 'req-1',
  'X-Auth-Key': 's3cret',
  'X-Kinvey-Response-Status': '203',
  'X-Kinvey-Response-Headers': '{"x-kinvey-api-version":"4"}',
  'X-Kinvey-Response-Body': '{"from":"header"}',
};

/** The same headers with lower-case and odd-case names: lookups are case-insensitive. */
const CONTEXT_MIXED_CASE = Object.fromEntries(Object.entries(CONTEXT).map(([k, v], i) => [i % 2 ? k.toLowerCase() : k.toUpperCase(), v]));

const ENVELOPE = {
  body: { x: 1 },
  hookType: 'pre',
  method: 'put',
  query: { q: '1' },
  objectName: 'widgets',
  entityId: 'e1',
  tempObjectStore: { k: 'v' },
  response: { body: { r: 1 }, headers: { h: '1' }, status: 200 },
};

const ROUTE_PROBES: Probe[] = [
  { name: 'GET all, no headers', method: 'GET', path: '/widgets' },
  { name: 'GET by id, every context header', method: 'GET', path: '/widgets/abc', headers: CONTEXT },
  { name: 'GET by id, mixed-case header names', method: 'GET', path: '/widgets/abc', headers: CONTEXT_MIXED_CASE },
  { name: 'GET count', method: 'GET', path: '/widgets/_count' },
  { name: 'GET count by query', method: 'GET', path: '/widgets/_count', query: 'query=%7B%22a%22%3A1%7D' },
  { name: 'GET by query, encoded JSON and limit', method: 'GET', path: '/widgets', query: 'query=%7B%22a%22%3A1%7D&limit=2' },
  { name: 'GET by query, raw JSON', method: 'GET', path: '/widgets', query: 'query={"a":1}&limit=2&sort={"b":-1}' },
  { name: 'GET by query, nested brackets', method: 'GET', path: '/widgets', query: 'a[b]=1&a[c][d]=2&e[0]=x&e[1]=y' },
  { name: 'GET by query, repeated keys', method: 'GET', path: '/widgets', query: 'a=1&a=2&b[]=x&b[]=y&c=1&c[]=2' },
  { name: 'GET by query, plus, empty and bare keys', method: 'GET', path: '/widgets', query: 'a+b=c+d%20e&empty=&flag&bad=%ZZ' },
  { name: 'GET by query, 21 repeated values stay an array', method: 'GET', path: '/widgets', query: Array.from({ length: 21 }, (_, i) => `r=${i}`).join('&') },
  { name: 'GET by query, index 20 is an array, 21 an object', method: 'GET', path: '/widgets', query: 'x[20]=a&y[21]=b' },
  { name: 'GET by query, prototype-named keys', method: 'GET', path: '/widgets', query: 'hasOwnProperty=1&__proto__[x]=1&constructor[prototype][y]=2&toString=3' },
  { name: 'GET with an empty query string', method: 'GET', path: '/widgets', query: '' },
  { name: 'GET with a key-less query gives no query', method: 'GET', path: '/widgets', query: '=x&&' },
  { name: 'GET with a trailing slash', method: 'GET', path: '/widgets/' },
  { name: 'GET by id with a trailing slash', method: 'GET', path: '/widgets/abc/' },
  { name: 'GET with upper-case path keeps the case of params', method: 'GET', path: '/WIDGETS/ABC' },
  { name: 'GET count matches _COUNT case-insensitively', method: 'GET', path: '/Widgets/_COUNT' },
  { name: 'GET params are percent-decoded', method: 'GET', path: '/wid%20gets/a%2Fb%C3%A9' },
  { name: 'GET with a bad escape in a param is a 400', method: 'GET', path: '/wid%ZZgets' },
  { name: 'PATCH with a bad escape is a 400 too', method: 'PATCH', path: '/widgets/%E0%A4%A' },
  { name: 'GET /healthcheck', method: 'GET', path: '/healthcheck' },
  { name: 'GET /HealthCheck/ (case, trailing slash)', method: 'GET', path: '/HealthCheck/' },
  { name: 'HEAD /healthcheck', method: 'HEAD', path: '/healthcheck' },
  { name: 'HEAD is routed as GET, with method HEAD', method: 'HEAD', path: '/widgets/abc', headers: CONTEXT },
  { name: 'HEAD on a POST-only route is a 404', method: 'HEAD', path: '/_auth/login' },
  { name: 'GET / is a 404', method: 'GET', path: '/' },
  { name: 'three segments is a 404', method: 'GET', path: '/a/b/c' },
  { name: 'PATCH is a 404', method: 'PATCH', path: '/widgets/abc' },
  { name: 'POST with an id is a 404', method: 'POST', path: '/widgets/abc', headers: JSON_TYPE, body: '{}' },
  { name: 'PUT without an id is a 404', method: 'PUT', path: '/widgets', headers: JSON_TYPE, body: '{}' },
  { name: 'OPTIONS on a collection lists its methods', method: 'OPTIONS', path: '/widgets' },
  { name: 'OPTIONS on an entity lists its methods', method: 'OPTIONS', path: '/widgets/abc' },
  { name: 'OPTIONS on a function', method: 'OPTIONS', path: '/_flexFunctions/hello' },
  { name: 'OPTIONS on three segments is a 404', method: 'OPTIONS', path: '/a/b/c' },
  { name: 'POST insert with context headers', method: 'POST', path: '/widgets', headers: { ...CONTEXT, ...JSON_TYPE }, body: '{"name":"w","n":[1,2]}' },
  { name: 'POST insert of an array', method: 'POST', path: '/widgets/', headers: JSON_TYPE, body: '[{"a":1},{"a":2}]' },
  { name: 'POST with a text/plain body gives {}', method: 'POST', path: '/widgets', headers: { 'Content-Type': 'text/plain' }, body: '{"a":1}' },
  { name: 'POST without a body', method: 'POST', path: '/widgets' },
  { name: 'POST data honours a body "response" envelope', method: 'POST', path: '/widgets', headers: JSON_TYPE, body: '{"response":{"body":"b","headers":{"h":"1"},"status":201},"a":1}' },
  { name: 'POST body with a __proto__ key', method: 'POST', path: '/widgets', headers: JSON_TYPE, body: '{"__proto__":{"polluted":1},"a":1}' },
  { name: 'PUT update', method: 'PUT', path: '/widgets/abc', headers: JSON_TYPE, body: '{"_id":"abc","n":1}' },
  { name: 'PUT ignores the URL query', method: 'PUT', path: '/widgets/abc', query: 'x=1', headers: JSON_TYPE, body: '{"n":1}' },
  { name: 'DELETE by id with a query', method: 'DELETE', path: '/widgets/abc', query: 'x=1' },
  { name: 'DELETE by query', method: 'DELETE', path: '/widgets', query: 'query=%7B%22a%22%3A1%7D' },
  { name: 'DELETE all, trailing slash', method: 'DELETE', path: '/widgets/' },
  { name: 'function with the full envelope', method: 'POST', path: '/_flexFunctions/hello', headers: { ...CONTEXT, ...JSON_TYPE }, body: JSON.stringify(ENVELOPE) },
  { name: 'function body without a body key is used whole', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"a":1,"b":{"c":2}}' },
  { name: 'function post hook with a response', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"hookType":"post","body":{"a":1},"response":{"body":{"out":1},"status":201}}' },
  { name: 'function URL query wins over body query', method: 'POST', path: '/_flexFunctions/hello', query: 'u=1', headers: JSON_TYPE, body: '{"query":{"b":1},"body":{}}' },
  { name: 'function empty body query is not used', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"query":{},"entityId":"","objectName":""}' },
  { name: 'function string body query is used (Object.keys of a string)', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"query":"abc","body":0}' },
  { name: 'function without a body', method: 'POST', path: '/_flexFunctions/hello' },
  { name: 'function with an id and an entityId (1.x reads id)', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"body":{},"id":"by-id","entityId":"by-entity-id","hookType":"post"}' },
  { name: 'function with only an id', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"id":"i1","tempObjectStore":{"t":1}}' },
  { name: 'data insert with a body response beside the headers', method: 'POST', path: '/widgets', headers: { ...JSON_TYPE, 'X-Kinvey-Response-Status': '202' }, body: '{"response":{"body":{"b":1},"headers":{"h":"1"},"status":201}}' },
  { name: 'function method override with response headers', method: 'POST', path: '/_flexFunctions/hello', headers: { ...CONTEXT, ...JSON_TYPE }, body: '{"method":"delete"}' },
  { name: 'function array body', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '[1,2]' },
  { name: 'function with a non-string method is a 500', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"method":5}' },
  { name: 'function route is case-insensitive', method: 'POST', path: '/_FLEXFUNCTIONS/hel%20lo/' },
  { name: 'POST /_flexFunctions alone is a 404 (next route)', method: 'POST', path: '/_flexFunctions' },
  { name: 'POST /_command alone is a 404 (next route)', method: 'POST', path: '/_command' },
  { name: 'POST /_flexfunctions (other case) is a data insert', method: 'POST', path: '/_flexfunctions' },
  { name: 'POST /%5FflexFunctions decodes before the skip check', method: 'POST', path: '/%5FflexFunctions' },
  { name: 'discovery ignores headers and body', method: 'POST', path: '/_command/discover', headers: { ...CONTEXT, ...JSON_TYPE }, body: '{"a":1}' },
  { name: 'discovery, other case, trailing slash', method: 'POST', path: '/_Command/Discover/' },
  { name: 'GET /_command/discover is a data route', method: 'GET', path: '/_command/discover' },
  { name: 'auth', method: 'POST', path: '/_auth/login', headers: { ...CONTEXT, ...JSON_TYPE }, body: '{"username":"u","password":"p","options":{"o":1},"extra":2}' },
  { name: 'auth with only a username', method: 'POST', path: '/_auth/login', headers: JSON_TYPE, body: '{"username":"u"}' },
  { name: 'bad JSON context headers', method: 'GET', path: '/widgets', headers: { 'X-Kinvey-App-Metadata': 'not json', 'X-Kinvey-Original-Request-Headers': 'null' } },
  { name: 'JSON context headers that are not objects', method: 'GET', path: '/widgets', headers: { 'X-Kinvey-App-Metadata': '5', 'X-Kinvey-Original-Request-Headers': '"str"' } },
  { name: 'falsy JSON context headers', method: 'GET', path: '/widgets', headers: { 'X-Kinvey-App-Metadata': 'false', 'X-Kinvey-Original-Request-Headers': '[]' } },
  { name: 'empty context headers', method: 'GET', path: '/widgets', headers: { 'X-Auth-Key': '', 'X-Kinvey-Username': '', 'X-Kinvey-App-Metadata': '', 'X-Kinvey-Response-Status': '' } },
];

/** Bodies through body-parser: the content type decides, and failures are 400/415. */
const BODY_PROBES: Probe[] = [
  ['application/json; charset=utf-8', '{"a":1}'],
  ['Application/JSON', '{"a":1}'],
  ['application/json ; charset="UTF-8"', '{"a":1}'],
  ['application/json;', '{"a":1}'],
  ['application/json+', '{"a":1}'],
  ['application/vnd.api+json', '{"a":1}'],
  ['application/json; charset=latin1', '{"a":1}'],
  ['application/json; charset=utf-16le', Buffer.from('{"a":"é"}', 'utf16le')],
  ['application/json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"bom":true}')])],
  ['application/json', ' \n\t{"a":1}'],
  ['application/json', '{"a":'],
  ['application/json', '"str"'],
  ['application/json', '   '],
  ['application/json', 'null'],
  ['application/json', ''],
].map(([contentType, body]) => ({
  name: `body ${JSON.stringify(contentType)} ${JSON.stringify(String(body)).slice(0, 24)}`,
  method: 'POST',
  path: '/widgets',
  headers: { 'Content-Type': contentType as string },
  body,
}));

function withResponse(mutate: (response: Record<string, any>) => void): (task: FlexTask) => FlexTask {
  return (task) => {
    mutate(task.response);
    return task;
  };
}

/** Completed tasks whose answers must match what the receiver sent. */
const ANSWER_PROBES: Probe[] = [
  { name: 'string body is JSON-parsed', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = '{"parsed":true}'; r.statusCode = 201; r.continue = false; }) },
  { name: '550 runtime error', method: 'GET', path: '/widgets/x', complete: withResponse((r) => { r.body = { error: 'FlexRuntimeError', description: 'The Flex Service had a runtime error.  See debug message for details', debug: 'boom' }; r.statusCode = 550; r.continue = false; }) },
  { name: 'missing statusCode is 200', method: 'DELETE', path: '/widgets', complete: withResponse((r) => { r.body = { count: 3 }; }) },
  { name: 'statusCode 0 is 200', method: 'DELETE', path: '/widgets', complete: withResponse((r) => { r.body = { count: 3 }; r.statusCode = 0; }) },
  { name: 'string statusCode', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = []; r.statusCode = '202'; }) },
  { name: 'unparseable string body stays a string', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = 'plain text'; r.statusCode = 200; }) },
  { name: 'numeric string body becomes a number', method: 'GET', path: '/widgets/_count', complete: withResponse((r) => { r.body = '123'; }) },
  { name: '[1] body becomes 1 (JSON.parse of String([1]))', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = [1]; }) },
  { name: '[[true]] body becomes true', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = [[true]]; }) },
  { name: 'array of objects stays', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = [{ a: 1 }, { a: 2 }]; }) },
  { name: 'null body', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.body = null; }) },
  { name: 'no body key sends an empty body', method: 'GET', path: '/widgets', complete: withResponse((r) => { delete r.body; r.statusCode = 200; }) },
  { name: '204 sends no body', method: 'DELETE', path: '/widgets/abc', complete: withResponse((r) => { r.body = { ignored: true }; r.statusCode = 204; }) },
  { name: 'functions answer echoes request and response', method: 'POST', path: '/_flexFunctions/hello', headers: { ...CONTEXT, ...JSON_TYPE }, body: JSON.stringify(ENVELOPE), complete: (task) => {
    if (task.request.tempObjectStore) task.request.tempObjectStore.fromFn = 42;
    task.request.params = task.request.query;
    task.response.body = '{"hello":"world"}';
    task.response.statusCode = 200;
    task.response.continue = true;
    return task;
  } },
  { name: 'functions answer with an object body', method: 'POST', path: '/_flexFunctions/hello', headers: JSON_TYPE, body: '{"a":1}', complete: withResponse((r) => { r.body = { ok: 1 }; r.statusCode = 400; r.continue = false; }) },
  { name: 'auth answer is the token body', method: 'POST', path: '/_auth/login', headers: JSON_TYPE, body: '{"username":"u","password":"p"}', complete: withResponse((r) => { r.body = { token: { t: 1 }, authenticated: true }; r.statusCode = 200; r.continue = false; }) },
  { name: 'auth error', method: 'POST', path: '/_auth/login', complete: withResponse((r) => { r.body = { error: 'server_error', error_description: 'nope' }; r.statusCode = 401; }) },
  { name: 'discovery answer is discoveryObjects', method: 'POST', path: '/_command/discover', complete: (task) => {
    task.discoveryObjects = { dataLink: { serviceObjects: ['widgets'] }, businessLogic: { handlers: ['hello'] }, auth: { handlers: [] } };
    return task;
  } },
  { name: 'no result is a 500 InternalError', method: 'GET', path: '/widgets', complete: () => null },
  // Express 4.13's receiver never answers it (the request hangs); flexd answers 500 in every dialect.
  { name: 'a status Node refuses is a 500', since: '2.3.0', method: 'GET', path: '/widgets', complete: withResponse((r) => { r.statusCode = 1000; }) },
  { name: 'a task without a response is a 500', method: 'GET', path: '/widgets', complete: (task) => {
    delete task.response;
    return task;
  } },
];

// --- the real receiver, in this process -------------------------------------------------

interface Receiver {
  start(options: object, onTask: unknown, onStarted: () => void): void;
  stop(callback?: () => void): void;
}

/** What the running receiver did with the last probe. */
let recorded: FlexTask | undefined;
let completed: FlexTask | null | undefined;
let completeWith: Probe['complete'];

function defaultCompletion(task: FlexTask): FlexTask {
  if (task.taskType === 'serviceDiscovery') task.discoveryObjects = { dataLink: { serviceObjects: [] }, businessLogic: { handlers: [] }, auth: { handlers: [] } };
  else Object.assign(task.response, { body: { ok: true }, statusCode: 200, continue: false });
  return task;
}

/** The receiver's task callback: record the task as given, complete it, keep a copy of the result. */
function onTask(task: FlexTask, done: (err: unknown, result: FlexTask | null) => void): void {
  recorded = structuredClone(task);
  const result = (completeWith ?? defaultCompletion)(task);
  // Copied before the receiver parses response.body in place.
  completed = result === null ? null : structuredClone(result);
  done(null, result);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: chosen } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return chosen;
}

/**
 * The receiver module of the tree's task runner. Its `lib/receiver.js`, not the package entry:
 * up to 2.2.x the entry registers CoffeeScript for the whole process (task-runner.ts in
 * src/child), which would change this test process's stack traces and module loading. Its
 * logger appends to `output.log` in the cwd on require: it is replaced with a no-op.
 */
function loadReceiver(tree: string): Receiver {
  const require = createRequire(join(tree, 'package.json'));
  const loggerPath = require.resolve('kinvey-code-task-runner/lib/log/logger.js');
  const stub = new Module(loggerPath);
  stub.filename = loggerPath;
  stub.loaded = true;
  stub.exports = { debug() {}, info() {}, warning() {}, error() {}, fatal() {} };
  require.cache[loggerPath] = stub;
  return require('kinvey-code-task-runner/lib/receiver.js') as Receiver;
}

function send(port: number, probe: Probe): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const body = probe.body === undefined ? undefined : Buffer.from(probe.body);
    const headers: Record<string, string> = { ...probe.headers };
    if (body) headers['Content-Length'] = String(body.length);
    const path = probe.query === undefined ? probe.path : `${probe.path}?${probe.query}`;
    const req = http.request({ host: '127.0.0.1', port, method: probe.method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends one probe to the receiver; returns what it answered and the task it was given. */
async function exchange(port: number, probe: Probe): Promise<{ ex: Exchange; task: FlexTask | undefined; completed: FlexTask | null | undefined }> {
  recorded = undefined;
  completed = undefined;
  completeWith = probe.complete;
  const ex = await withDeadline(`${probe.method} ${probe.path} to the receiver`, send(port, probe), 15_000);
  return { ex, task: recorded, completed };
}

function flexRequest(probe: Probe): FlexRequest {
  const headers = new Map(Object.entries(probe.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const parsed = parseJsonBody(headers.get('content-type'), Buffer.from(probe.body ?? ''));
  assert.ok(parsed.ok, `the probe body parses: ${JSON.stringify(parsed)}`);
  return { method: probe.method, path: probe.path, rawQuery: probe.query ?? '', header: (name) => headers.get(name.toLowerCase()), body: parsed.value };
}

/** What the receiver did, in `Route` terms (tasks whole; other kinds by their visible parts). */
function receiverRoute(probe: Probe, ex: Exchange, task: FlexTask | undefined): unknown {
  if (task) return { kind: 'task', task };
  if (probe.method === 'OPTIONS' && ex.status === 200) return { kind: 'options', allow: ex.headers.allow };
  if (ex.status === 200) return { kind: 'healthcheck' };
  if (ex.status === 404) {
    // Express 4.16 answers an HTML page, 4.13 a line of text.
    if (probe.method !== 'HEAD') assert.match(ex.text, new RegExp(`Cannot ${probe.method} ${probe.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(<|\n)`));
    return { kind: 'notFound', method: probe.method, path: probe.path };
  }
  return { kind: 'error', status: ex.status };
}

function comparable(route: Route): unknown {
  switch (route.kind) {
    case 'task': return { kind: 'task', task: route.task };
    case 'error': return { kind: 'error', status: route.status };
    default: return route;
  }
}

/** One SDK version per task runner version (3.1.2 and 3.2.0 pin the same one). */
const ORACLES = SDK_VERSIONS.filter((v, i) => SDK_VERSIONS.findIndex((w) => TASK_RUNNER_OF[w] === TASK_RUNNER_OF[v]) === i);

for (const sdk of ORACLES) {
  const taskRunner = TASK_RUNNER_OF[sdk];
  describe(`kinvey-code-task-runner ${taskRunner} (kinvey-flex-sdk ${sdk})`, () => {
    let port = 0;
    let receiver: Receiver;
    const dialect: ReceiverDialect = receiverDialect({ version: taskRunner, requestBodyLimit: 26_214_400 });

    before(async () => {
      receiver = loadReceiver(await sdkTree(sdk as SdkVersion));
      port = await freePort();
      // Express's final handler prints every error's stack to stderr unless its env is 'test'; the
      // probes provoke errors on purpose. Only that printing differs from 'development' (both answer
      // the stack in the page; only 'production' hides it).
      process.env.NODE_ENV = 'test';
      // The receiver turns port 0 into its default 10001, so it gets a port known to be free.
      // It announces itself with console.log (httpReceiver.js), which would land in the test report.
      const log = console.log;
      console.log = () => {};
      await withDeadline('the receiver to listen', new Promise<void>((resolve) => {
        receiver.start({ type: 'http', host: '127.0.0.1', port }, onTask, resolve);
      })).finally(() => { console.log = log; });
    });

    // Before 2.3.0 `stop` takes no callback: wait for the port to close instead.
    after(() => new Promise<void>((resolve) => {
      receiver.stop(resolve);
      if (semver.lt(taskRunner, '2.3.0')) setImmediate(resolve);
    }));

    describe('routeRequest builds the task the SDK receiver builds', () => {
      for (const probe of ROUTE_PROBES) {
        test(`route: ${probe.name} (${probe.method} ${probe.path}${probe.query === undefined ? '' : `?${probe.query}`})`, async () => {
          const { ex, task } = await exchange(port, probe);
          const ours = routeRequest(flexRequest(probe), dialect);
          assert.deepStrictEqual(comparable(ours), receiverRoute(probe, ex, task));
          if (ours.kind === 'task') assert.equal(ours.checksSecret, ours.task.taskType !== 'serviceDiscovery');
        });
      }
    });

    describe('parseJsonBody parses as body-parser does', () => {
      for (const probe of BODY_PROBES) {
        test(`body: ${probe.name}`, async () => {
          const { ex, task } = await exchange(port, probe);
          const parsed = parseJsonBody(probe.headers!['Content-Type'], Buffer.from(probe.body!));
          if (task) {
            assert.ok(parsed.ok, `receiver parsed it, flexd refused: ${JSON.stringify(parsed)}`);
            assert.deepStrictEqual(parsed.value, task.request.body);
          } else {
            assert.deepStrictEqual({ ok: parsed.ok, status: parsed.ok ? 200 : parsed.status }, { ok: false, status: ex.status });
          }
        });
      }
      test(`body limit: the receiver refuses a JSON body over ${dialect.bodyLimitBytes} bytes, as the dialect says`, async () => {
        const limit = dialect.bodyLimitBytes!;
        const body = (size: number) => JSON.stringify({ pad: 'x'.repeat(size - 10) });
        const fits = await exchange(port, { name: 'fits', method: 'POST', path: '/widgets', headers: JSON_TYPE, body: body(Math.min(limit, 4096)) });
        assert.equal(fits.ex.status, 200);
        const over = await exchange(port, { name: 'over', method: 'POST', path: '/widgets', headers: JSON_TYPE, body: body(limit + 1) });
        assert.equal(over.ex.status, 413);
        const plain = await exchange(port, { name: 'text over', method: 'POST', path: '/widgets', headers: { 'Content-Type': 'text/plain' }, body: body(limit + 1) });
        assert.equal(plain.ex.status, 200, 'a body the receiver does not parse is not limited');
      });
    });

    describe('answerFromTask answers as the SDK receiver answers', () => {
      for (const probe of ANSWER_PROBES.filter((p) => !p.since || !semver.lt(taskRunner, p.since))) {
        test(`answer: ${probe.name}`, async () => {
          const { ex, completed: result } = await exchange(port, probe);
          assert.notEqual(result, undefined, 'the receiver called the task callback');
          const answer = answerFromTask(result, dialect);
          assert.equal(answer.status, ex.status);
          if (ex.status === 500 && ex.headers['content-type']?.startsWith('text/html')) {
            // The receiver threw inside Express (an HTML page); flexd answers its JSON error instead.
            assert.equal((answer.body as { error: string }).error, 'InternalError');
            return;
          }
          assert.equal(answerBodyText(answer), ex.text);
          assert.equal(answer.headers['content-type'], ex.headers['content-type']);
          const expectedContinue = typeof result?.response?.continue === 'boolean' ? String(result.response.continue) : undefined;
          assert.equal(answer.headers['x-kinvey-request-continue'], expectedContinue);
        });
      }
    });
  });
}
