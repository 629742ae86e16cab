/**
 * Every kinvey-flex-sdk version the registry serves answers under flexd as under `node .` in the
 * same folder: the sdk-versions fixture is placed in each version's installed tree
 * (helpers/sdk-trees.ts, one registry install per version), run there with plain `node .` (the
 * SDK's own receiver, the version it pins) and deployed to one flexd, and the same requests go to
 * both. Status, Content-Type and body must be equal; stack traces are compared by their message,
 * their format (CoffeeScript's two-space `  at` and final newline up to SDK 2.1.0) and their
 * frames in the service's own files, since the frames below differ by design (Express's router
 * there, flexd's channel here). Where `node .` answers an HTML error page (a body over the
 * receiver's limit, malformed JSON) flexd answers JSON by design: only the status is compared.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import semver from 'semver';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { SDK_VERSIONS, sdkProject, TASK_RUNNER_OF, type SdkVersion } from '../helpers/sdk-trees.ts';
import { startStandalone } from '../helpers/standalone.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const FIXTURE = readFileSync(new URL('../fixtures/sdk-versions/index.js', import.meta.url), 'utf8');
const ENVIRONMENT = 'Development';
/** A deploy packs the tree's node_modules (no npm); a cold CI box may take a while. */
const DEPLOY_TIMEOUT_MS = 180_000;
const REQUEST_TIMEOUT_MS = 30_000;

const CONTEXT: Record<string, string> = {
  'X-Kinvey-App-Metadata': JSON.stringify({ _id: 'kid_v', applicationId: 'app-v', appsecret: 'as', mastersecret: 'ms', baasUrl: 'https://baas.example.invalid' }),
  'X-Kinvey-Original-Request-Headers': JSON.stringify({ authorization: `Basic ${Buffer.from('kid_v:as').toString('base64')}`, host: 'baas.example.invalid' }),
  'X-Kinvey-Username': 'alice',
  'X-Kinvey-User-Id': 'user-alice',
  'X-Kinvey-Environment-Id': 'kid_v',
  'X-Kinvey-Request-Id': 'req-v-1',
};

interface Step {
  label: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** `node .` answers an HTML page here (flexd answers JSON): compare the status only. */
  statusOnly?: boolean;
  /** Sent only to SDKs from this version on. */
  since?: string;
}

const JSON_BODY = { 'Content-Type': 'application/json' };
const ENVELOPE = JSON.stringify({
  body: { x: 1 }, hookType: 'pre', method: 'PUT', query: { q: '1' }, objectName: 'widgets', entityId: 'by-entity-id', id: 'by-id',
  tempObjectStore: { k: 'v' }, response: { body: { r: 1 }, headers: { h: '1' }, status: 201 },
});

const STEPS: Step[] = [
  { label: 'a function', method: 'POST', path: '/_flexFunctions/echo', headers: JSON_BODY, body: '{"body":{"a":1}}' },
  { label: 'an unknown function (the issue\'s tempObjectStore case)', method: 'POST', path: '/_flexFunctions/nope', headers: JSON_BODY, body: '{"a":1}' },
  { label: 'a function with the whole envelope', method: 'POST', path: '/_flexFunctions/echo', headers: JSON_BODY, body: ENVELOPE },
  { label: 'a function body without a body key, with an id', method: 'POST', path: '/_flexFunctions/echo', headers: JSON_BODY, body: '{"id":"only-id","a":1}' },
  { label: 'a function writing the temp object store', method: 'POST', path: '/_flexFunctions/tempStore', headers: JSON_BODY, body: '{"body":{},"tempObjectStore":{"k":"v"}}' },
  { label: 'a function with a URL query and a response header', method: 'POST', path: '/_flexFunctions/echo?u=1', headers: { ...JSON_BODY, 'X-Kinvey-Response-Status': '202' }, body: '{"response":{"status":201}}' },
  { label: 'a stack trace', method: 'POST', path: '/_flexFunctions/stack', headers: JSON_BODY, body: '{}' },
  { label: 'runtimeError', method: 'POST', path: '/_flexFunctions/runtimeError', headers: JSON_BODY, body: '{}' },
  { label: 'the modules', method: 'POST', path: '/_flexFunctions/modules' },
  { label: 'data: get all', method: 'GET', path: '/widgets' },
  { label: 'data: get by id with a query', method: 'GET', path: '/widgets/w1?fields=a&limit=2' },
  { label: 'data: count', method: 'GET', path: '/widgets/_count' },
  { label: 'data: insert with a body response', method: 'POST', path: '/widgets', headers: JSON_BODY, body: '{"response":{"body":"b","status":201},"a":1}' },
  { label: 'data: an error', method: 'DELETE', path: '/widgets/w9' },
  { label: 'data: an operation not registered', method: 'DELETE', path: '/widgets' },
  // SDK 1.x has no auth: its receiver routes the task, the SDK never completes it, and `node .`
  // never answers (flexd answers 504 when the request timeout passes).
  { label: 'auth', since: '2.0.0', method: 'POST', path: '/_auth/login', headers: JSON_BODY, body: '{"username":"u","password":"p"}' },
  { label: 'discovery', method: 'POST', path: '/_command/discover' },
  { label: 'a JSON body of 5000 bytes (over 1.x\'s limit of 4096)', method: 'POST', path: '/_flexFunctions/echo', headers: JSON_BODY, body: JSON.stringify({ pad: 'x'.repeat(4990) }), statusOnly: true },
  { label: 'a text body of 5000 bytes (not limited)', method: 'POST', path: '/_flexFunctions/echo', headers: { 'Content-Type': 'text/plain' }, body: 'x'.repeat(5000) },
  { label: 'malformed JSON', method: 'POST', path: '/_flexFunctions/echo', headers: JSON_BODY, body: '{bad', statusOnly: true },
];

interface Answer { status: number; contentType: string | null; body: unknown }

async function call(base: string, step: Step): Promise<Answer> {
  const res = await withDeadline(`${step.method} ${step.path}`, fetch(`${base}${step.path}`, {
    method: step.method, headers: { ...CONTEXT, ...step.headers }, body: step.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  }), REQUEST_TIMEOUT_MS + 1_000);
  const text = await res.text();
  if (step.statusOnly) return { status: res.status, contentType: null, body: null };
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* compared as text */ }
  return { status: res.status, contentType: res.headers.get('content-type'), body: normaliseStacks(body) };
}

/** A stack trace's first line. */
const STACK = /^[^\n]*\n( +)at [\s\S]*$/;
/** `(path/to/file.js:1:2)` or `at path/to/file.js:1:2`: the location of one frame. */
const FRAME_LOCATION = /(?:\(|at )(\S+?):(\d+):(\d+)\)?$/;

/**
 * A frame's file relative to the project when it is the service's own index.js or the SDK's;
 * null for any other. The project sits in the tree's cache folder under `node .` (a path with
 * `node_modules/.cache` in it), in its own artifact folder under flexd.
 */
function ownFile(path: string): string | null {
  const sdk = path.lastIndexOf('/node_modules/kinvey-flex-sdk/');
  if (sdk >= 0) return path.slice(sdk + 1);
  const inTree = path.lastIndexOf('/node_modules/');
  const rest = inTree >= 0 && path.startsWith('/node_modules/.cache/', inTree) ? path.slice(path.indexOf('/projects/', inTree) + 1) : path;
  return !rest.includes('node_modules') && /(^|\/)index\.js$/.test(rest) ? 'index.js' : null;
}

/**
 * A stack trace as comparable text: its message line, the indentation of its frames, whether it
 * ends in a newline, and its frames in the service's index.js and the SDK, with paths relative.
 */
function normaliseStacks(value: unknown): unknown {
  if (typeof value === 'string') {
    const match = STACK.exec(value);
    if (!match) return value;
    const lines = value.split('\n');
    const own = lines.slice(1).map((l) => FRAME_LOCATION.exec(l.trim())).filter((m) => m !== null && ownFile(m[1]) !== null)
      .map((m) => `${ownFile(m![1])}:${m![2]}:${m![3]}`);
    return { stackMessage: lines[0], frameIndent: match[1].length, endsInNewline: value.endsWith('\n'), ownFrames: own };
  }
  if (Array.isArray(value)) return value.map(normaliseStacks);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseStacks(v)]));
  return value;
}

describe('every published kinvey-flex-sdk version answers under flexd as under `node .`', () => {
  const cleanup = new CleanupStack();
  let rt: Runtime;
  after(() => cleanup.run());

  before(async () => {
    rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-sdk-versions-'), port: 0 });
    cleanup.after(() => rt.close());
  });

  for (const version of SDK_VERSIONS) {
    test(`kinvey-flex-sdk ${version} (kinvey-code-task-runner ${TASK_RUNNER_OF[version]})`, async (t) => {
      const project = await sdkProject(version as SdkVersion, 'differential', { 'index.js': FIXTURE });
      const service = `sdk-${version.replace(/\./g, '-')}`;
      await withDeadline(`deploy of ${version}`, rt.deployDirectory(project, { service, environment: ENVIRONMENT }), DEPLOY_TIMEOUT_MS);
      const standalone = await startStandalone({ projectDir: project, env: { NODE_ENV: ENVIRONMENT } }, t);
      const flexdBase = `${rt.url}/flex/${service}/${ENVIRONMENT}`;
      for (const step of STEPS.filter((s) => !s.since || semver.gte(version, s.since))) {
        const expected = await call(standalone.url, step);
        const actual = await call(flexdBase, step);
        assert.deepStrictEqual(actual, expected, `${version}: ${step.label} (${step.method} ${step.path}) answers differently from \`node .\``);
      }
    });
  }
});
