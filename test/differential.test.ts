/**
 * The evidence that flexd runs a Flex service unchanged: the kitchen-sink fixture runs under
 * plain Node (the SDK's own HTTP receiver, what `node .` serves) and under flexd, gets the same
 * requests in the same order, and must answer each with the same status and the same JSON body
 * (generated ids, timestamps and stack traces compared by shape only; see helpers/normalise.ts).
 *
 * Then what the SDK's receiver does *not* do well, flexd must: a throwing handler, a rejected
 * promise and a malformed body get a JSON error, and the replica keeps serving. (A restart on the
 * same data dir: test/lifecycle/restart.test.ts.)
 */
import assert from 'node:assert/strict';
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
  const suite = new CleanupStack();
  after(() => suite.run());
  let base = '';

  before(async () => {
    const rt = await createRuntime({ dataDir: await tempDir(suite, 'flexd-differential-'), port: 0 });
    suite.after(() => rt.close());
    await withDeadline('deploy of the kitchen-sink fixture', rt.deployDirectory(KITCHEN_SINK_DIR, {
      service: SERVICE, environment: ENVIRONMENT, secret: SECRET, env: USER_ENV,
    }), DEPLOY_TIMEOUT_MS);
    base = `${rt.url}/flex/${SERVICE}/${ENVIRONMENT}`;
  });

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

/** Normalises one run's answers with one normaliser, so its generated ids are numbered consistently. */
function normaliseRun(answers: Answer[]): Answer[] {
  const normalise = createNormaliser();
  return answers.map((answer) => ({ ...answer, body: normalise(answer.body) }));
}
