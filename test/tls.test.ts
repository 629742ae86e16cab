/** SPEC §2: with --tls-cert and --tls-key, flexd serves HTTPS (management API and data plane alike: one server). */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { createRuntime } from '../src/runtime.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { hasOpenssl, selfSignedCertificate } from './helpers/tls.ts';
import { withDeadline } from './helpers/wait.ts';

it('tls: a runtime given a certificate and key answers over HTTPS: its health, the management API and the data plane', { skip: !hasOpenssl() && 'openssl is not installed' }, async (t) => {
  const cleanup = cleanupStack(t);
  const { dir, cert, key } = await selfSignedCertificate(cleanup);
  const rt = await createRuntime({ dataDir: join(dir, 'data'), port: 0, tlsCert: cert, tlsKey: key });
  cleanup.after(() => rt.close());
  assert.match(rt.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(cert);

  /** One request over TLS, trusting only the runtime's certificate. */
  const call = (method: string, path: string, body?: string) => withDeadline(`${method} ${path} over HTTPS`, new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(`${rt.url}${path}`, { method, ca, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
    req.end(body);
  }), 30_000);

  const health = await call('GET', '/healthz');
  assert.deepEqual([health.status, health.body.healthy], [200, true]);
  const login = await call('POST', '/session', JSON.stringify({ email: 'nobody@example.com', password: 'wrong-password' }));
  assert.deepEqual([login.status, login.body.code], [401, 'InvalidCredentials'], 'the management API answers over HTTPS');
  const flex = await call('POST', '/flex/nothing/Development/_flexFunctions/echo', '{}');
  assert.equal(flex.status, 404, 'the data plane answers over HTTPS');
  assert.equal(typeof flex.body.error, 'string', JSON.stringify(flex.body));
});
