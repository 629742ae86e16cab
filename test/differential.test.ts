/**
 * The evidence that flexd runs a Flex service unchanged: the kitchen-sink fixture runs under
 * plain Node (the SDK's own HTTP receiver, what `node .` serves) and under flexd, gets the same
 * requests in the same order, and must answer each with the same status and the same JSON body
 * (generated ids, timestamps and stack traces compared by shape only; see helpers/normalise.ts).
 *
 * Then what the SDK's receiver does *not* do well, flexd must: a throwing handler, a rejected
 * promise and a malformed body get a JSON error, and the replica keeps serving. (A restart on the
 * same data dir: test/lifecycle/restart.test.ts.)
 *
 * Then the data plane's own answers at the edge (SPEC §4, RELIABILITY B1, B4, B5, B6) on the same
 * runtime and replica: limits, secrets and odd paths. The runtime's body limit is 64 KiB so the
 * limit tests need not send 25 MB; every body of the sequence is far below it, so the differential
 * run is not affected.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { createRuntime } from '../src/runtime.ts';
import { CleanupStack } from './helpers/cleanup.ts';
import { KITCHEN_SINK_DIR, runSequence, SEQUENCE, type Answer } from './helpers/kitchen-sink.ts';
import { createNormaliser } from './helpers/normalise.ts';
import { startStandalone } from './helpers/standalone.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

const SECRET = 'kitchen-secret-1';
const SERVICE = 'kitchen';
const ENVIRONMENT = 'Development';
const USER_ENV = { GREETING: 'hi' };
/** flexd presets NODE_ENV to the environment's name; the standalone run gets the same value. */
const STANDALONE_ENV = { ...USER_ENV, NODE_ENV: ENVIRONMENT };

/** A deploy installs the SDK (registry or shared cache) and packs it: allow for a cold cache. */
const DEPLOY_TIMEOUT_MS = 180_000;
/** Well under the 50 s request timeout: an error answer that only came from the timeout fails. */
const PROMPT_ANSWER_MS = 15_000;
/** The runtime's request body limit (bodyLimitBytes). */
const LIMIT = 64 * 1024;

const suite = new CleanupStack();
after(() => suite.run());
let rt: Awaited<ReturnType<typeof createRuntime>>;
/** The kitchen-sink environment's data plane. */
let base = '';

before(async () => {
  rt = await createRuntime({ dataDir: await tempDir(suite, 'flexd-differential-'), port: 0, bodyLimitBytes: LIMIT });
  suite.after(() => rt.close());
  await withDeadline('deploy of the kitchen-sink fixture', rt.deployDirectory(KITCHEN_SINK_DIR, {
    service: SERVICE, environment: ENVIRONMENT, secret: SECRET, env: USER_ENV,
  }), DEPLOY_TIMEOUT_MS);
  base = `${rt.url}/flex/${SERVICE}/${ENVIRONMENT}`;
});

function post(base: string, path: string, body: string, contentType = 'application/json'): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'X-Auth-Key': SECRET },
    body,
    signal: AbortSignal.timeout(PROMPT_ANSWER_MS),
  });
}

/** Status and body of a function's answer; asserts a 200 with a JSON body. */
async function callFunction(base: string, name: string, label: string, ms: number): Promise<{ res: Response; answer: unknown }> {
  const res = await withDeadline(label, post(base, `/_flexFunctions/${name}`, '{}'), ms);
  const text = await res.text();
  assert.equal(res.status, 200, `${label}: status; body ${text.slice(0, 500)}`);
  // The functions route answers {request, response}; the handler's body is response.body.
  return { res, answer: (JSON.parse(text) as { response?: { body?: unknown } }).response?.body };
}

/** The process that answers the fixture's `pid` function, and the version flexd says served it. */
async function whoAnswers(base: string, label: string): Promise<{ pid: number; version: string | null }> {
  const { res, answer } = await callFunction(base, 'pid', label, PROMPT_ANSWER_MS);
  const pid = (answer as { pid?: unknown } | undefined)?.pid;
  assert.equal(typeof pid, 'number', `${label}: no pid in ${JSON.stringify(answer)}`);
  return { pid: pid as number, version: res.headers.get('x-flexd-version') };
}

/** Asserts a JSON answer in the Kinvey error shape `{error, description, debug}` and returns it. */
async function assertKinveyJsonError(res: Response, label: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i, `${label}: content-type; body ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(typeof body.error, 'string', `${label}: "error" in ${text}`);
  assert.equal(typeof body.description, 'string', `${label}: "description" in ${text}`);
  assert.ok('debug' in body, `${label}: "debug" in ${text}`);
  return body;
}

/** What must be equal between the two answers to one request (the label is the same by construction). */
const comparable = ({ status, json, body }: Answer) => ({ status, json, body });

describe('the kitchen-sink service under flexd and under `node .`', () => {
  test(`flexd answers all ${SEQUENCE.length} requests of the sequence with the status and JSON body \`node .\` gives`, async (t) => {
    const standalone = await startStandalone({ projectDir: KITCHEN_SINK_DIR, secret: SECRET, env: STANDALONE_ENV }, t);
    const expected = normaliseRun(await runSequence(standalone.url, SECRET));
    const actual = normaliseRun(await runSequence(base, SECRET));

    const unanswered = expected.filter((a) => a.status === 0);
    assert.deepEqual(unanswered.map((a) => a.label), [], 'the reference run under `node .` must answer every request');
    assert.equal(actual.length, expected.length);
    for (const [i, want] of expected.entries()) {
      await t.test(want.label, () => {
        assert.deepStrictEqual(comparable(actual[i]!), comparable(want), `${want.label}: flexd's answer differs from \`node .\`'s`);
      });
    }
  });

  test('a handler that throws synchronously gets a JSON error, and the same replica answers the next request', async () => {
    const beforeFault = await whoAnswers(base, 'pid before the throw');
    const res = await withDeadline('POST /_flexFunctions/throws', post(base, '/_flexFunctions/throws', '{}'), PROMPT_ANSWER_MS);
    // `node .` answers 500 with an HTML page here; flexd keeps a 5xx status and answers JSON.
    assert.ok(res.status >= 500 && res.status < 600, `POST /_flexFunctions/throws: status ${res.status}`);
    await assertKinveyJsonError(res, 'POST /_flexFunctions/throws');
    assert.deepEqual(await whoAnswers(base, 'pid after the throw'), beforeFault, 'the replica was replaced after a synchronous throw');
  });

  test('an async handler whose promise rejects gets a JSON error promptly, and the same replica answers the next request', async () => {
    const beforeFault = await whoAnswers(base, 'pid before the rejection');
    // `node .` on Node 20 dies here (exit 1, the request gets no answer at all).
    const res = await withDeadline('POST /_flexFunctions/rejects (answered before the request timeout)',
      post(base, '/_flexFunctions/rejects', '{}'), PROMPT_ANSWER_MS);
    assert.ok(res.status >= 500 && res.status < 600, `POST /_flexFunctions/rejects: status ${res.status}`);
    await assertKinveyJsonError(res, 'POST /_flexFunctions/rejects');
    assert.deepEqual(await whoAnswers(base, 'pid after the rejection'), beforeFault, 'the replica was replaced after a rejected promise');
  });

  test('a malformed JSON body gets a 400 JSON error instead of an HTML page, and the same replica answers the next request', async () => {
    const beforeFault = await whoAnswers(base, 'pid before the malformed bodies');
    for (const path of ['/widgets', '/_flexFunctions/hello', '/_auth/login']) {
      const label = `POST ${path} with body {bad`;
      const res = await withDeadline(label, post(base, path, '{bad'), PROMPT_ANSWER_MS);
      assert.equal(res.status, 400, `${label}: status (the SDK's receiver answers 400 too, as HTML)`);
      await assertKinveyJsonError(res, label);
    }
    assert.deepEqual(await whoAnswers(base, 'pid after the malformed bodies'), beforeFault, 'the replica was replaced after malformed bodies');
  });
});

describe('the data plane\'s own answers at the edge', () => {
  const postRaw = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-key': SECRET, ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body), signal: AbortSignal.timeout(PROMPT_ANSWER_MS) });

  test('edge: refuses a body over the limit declared by Content-Length with 413 in the Kinvey shape', async () => {
    const res = await postRaw('/widgets', JSON.stringify({ name: 'x'.repeat(LIMIT) }));
    assert.equal(res.status, 413);
    const body = await res.json();
    assert.equal(body.error, 'RequestEntityTooLarge');
    assert.equal(typeof body.description, 'string');
  });

  test('edge: refuses a chunked body as soon as it passes the limit', async () => {
    // The server may close the socket after its 413 while the client still writes (EPIPE,
    // ECONNRESET on the write): that is fine once the 413 came. A close without an answer fails.
    const status = await withDeadline('the 413 to a chunked body past the limit', new Promise<number>((resolve, reject) => {
      const url = new URL(`${base}/widgets`);
      let writeError: Error | undefined;
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-key': SECRET, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err) => { writeError = err; });
      req.on('close', () => reject(new Error(`the connection closed without an answer${writeError ? ` (${writeError.message})` : ''}`)));
      const chunk = Buffer.alloc(16 * 1024, 'a');
      // Write past the limit, and keep the stream open: the answer must come before the end.
      for (let i = 0; i < 8; i++) req.write(chunk);
    }), PROMPT_ANSWER_MS);
    assert.equal(status, 413);
  });

  test('edge: does not let a __proto__ key pollute the runtime', async () => {
    const res = await postRaw('/widgets', '{"__proto__":{"polluted":1},"name":"p"}');
    assert.ok(res.status < 500, `status ${res.status}`);
    // The runtime runs in this process: its Object.prototype is this one.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('edge: inflates a gzip body as the SDK receiver does', async () => {
    const res = await postRaw('/_flexFunctions/hello', gzipSync(JSON.stringify({ body: { zipped: true } })), { 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body.request.body, { zipped: true });
  });

  test('edge: answers a missing or wrong X-Auth-Key with the SDK InvalidCredentials body, on data routes only', async () => {
    for (const headers of [{}, { 'x-auth-key': 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${base}/widgets`, { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), {
        error: 'InvalidCredentials',
        description: 'Invalid credentials.  Please retry your request with correct credentials.',
        debug: 'The Authorization Key was not valid or missing.',
      });
    }
    assert.equal((await fetch(`${base}/healthcheck`)).status, 200);
    assert.equal((await fetch(`${base}/_command/discover`, { method: 'POST' })).status, 200);
  });

  test('edge: answers unknown services, encoded slashes, NUL bytes and very long names with 404, never another environment', async () => {
    for (const path of ['/flex/nosuch/Development/widgets', `/flex/${SERVICE}/Nope/widgets`, `/flex/${SERVICE}%2f..%2fother/Development/widgets`,
      `/flex/${SERVICE}/Development%00/widgets`, `/flex/${'a'.repeat(5000)}/Development/widgets`, '/flex/..%2f..%2fetc/passwd/x']) {
      const res = await fetch(rt.url + path, { headers: { 'x-auth-key': SECRET } });
      assert.equal(res.status, 404, path.slice(0, 80));
      assert.equal((await res.json()).error, 'ServiceNotFound');
    }
  });

  test('edge: answers a route the SDK does not have with a JSON 404 naming it', async () => {
    const res = await fetch(`${base}/widgets/1`, { method: 'PATCH', headers: { 'x-auth-key': SECRET } });
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.equal(body.error, 'NotFound');
    assert.equal(body.debug, 'Cannot PATCH /widgets/1');
  });

  test('edge: names the version that served each answer, and its request id: the Kinvey one when given, else a fresh UUID', async () => {
    const res = await fetch(`${base}/widgets`, { headers: { 'x-auth-key': SECRET } });
    assert.equal(res.headers.get('x-flexd-version'), '1.0.0');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(res.headers.get('x-request-id') ?? '', uuid);
    const again = await fetch(`${base}/widgets`, { headers: { 'x-auth-key': SECRET } });
    assert.notEqual(again.headers.get('x-request-id'), res.headers.get('x-request-id'), 'one id per request');
    const given = await fetch(`${base}/widgets`, { headers: { 'x-auth-key': SECRET, 'x-kinvey-request-id': 'req-edge-1' } });
    assert.equal(given.headers.get('x-request-id'), 'req-edge-1');
  });
});

/** Normalises one run's answers with one normaliser, so its generated ids are numbered consistently. */
function normaliseRun(answers: Answer[]): Answer[] {
  const normalise = createNormaliser();
  return answers.map((answer) => ({ ...answer, body: normalise(answer.body) }));
}
