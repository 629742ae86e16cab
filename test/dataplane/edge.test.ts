/**
 * The data plane's own answers at the edge (SPEC §4, RELIABILITY B1, B4, B5, B6): limits,
 * malformed input, secrets and odd paths, against a real runtime and replica. (Malformed JSON:
 * test/differential.test.ts, beside what the SDK's own receiver answers.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { KITCHEN_SINK_DIR } from '../helpers/kitchen-sink.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const SECRET = 'edge-secret';
const LIMIT = 64 * 1024;

describe('data plane edge', () => {
  const cleanup = new CleanupStack();
  let rt: Runtime;
  let base: string;

  before(async () => {
    const dataDir = await tempDir(cleanup);
    rt = await createRuntime({ dataDir, port: 0, bodyLimitBytes: LIMIT });
    cleanup.after(() => rt.close());
    await rt.deployDirectory(KITCHEN_SINK_DIR, { service: 'edge', environment: 'Development', secret: SECRET });
    base = `${rt.url}/flex/edge/Development`;
  });
  after(() => cleanup.run());

  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(base + path, { method: "POST", headers: { "content-type": "application/json", "x-auth-key": SECRET, ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });

  it('refuses a body over the limit declared by Content-Length with 413 in the Kinvey shape', async () => {
    const res = await post('/widgets', JSON.stringify({ name: 'x'.repeat(LIMIT) }));
    assert.equal(res.status, 413);
    const body = await res.json();
    assert.equal(body.error, 'RequestEntityTooLarge');
    assert.equal(typeof body.description, 'string');
  });

  it('refuses a chunked body as soon as it passes the limit', async () => {
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
    }));
    assert.equal(status, 413);
  });

  it('does not let a __proto__ key pollute the runtime', async () => {
    const res = await post('/widgets', '{"__proto__":{"polluted":1},"name":"p"}');
    assert.ok(res.status < 500);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('inflates a gzip body as the SDK receiver does', async () => {
    const res = await post('/_flexFunctions/hello', gzipSync(JSON.stringify({ body: { zipped: true } })), { 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body.request.body, { zipped: true });
  });

  it('answers a missing or wrong X-Auth-Key with the SDK InvalidCredentials body, on data routes only', async () => {
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

  it('answers unknown services, encoded slashes, NUL bytes and very long names with 404, never another environment', async () => {
    for (const path of ['/flex/nosuch/Development/widgets', '/flex/edge/Nope/widgets', '/flex/edge%2f..%2fother/Development/widgets',
      '/flex/edge/Development%00/widgets', `/flex/${'a'.repeat(5000)}/Development/widgets`, '/flex/..%2f..%2fetc/passwd/x']) {
      const res = await fetch(rt.url + path, { headers: { 'x-auth-key': SECRET } });
      assert.equal(res.status, 404, path.slice(0, 80));
      assert.equal((await res.json()).error, 'ServiceNotFound');
    }
  });

  it('answers a route the SDK does not have with a JSON 404 naming it', async () => {
    const res = await fetch(`${base}/widgets/1`, { method: 'PATCH', headers: { 'x-auth-key': SECRET } });
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.equal(body.error, 'NotFound');
    assert.equal(body.debug, 'Cannot PATCH /widgets/1');
  });

  it('names the version that served each answer', async () => {
    const res = await fetch(`${base}/widgets`, { headers: { 'x-auth-key': SECRET } });
    assert.equal(res.headers.get('x-flexd-version'), '1.0.0');
    assert.ok(res.headers.get('x-request-id'));
  });
});
