/** SPEC §2: with --tls-cert and --tls-key, flexd serves HTTPS (management API and data plane alike). */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { createRuntime } from '../src/runtime.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { hasOpenssl, selfSignedCertificate } from './helpers/tls.ts';
import { withDeadline } from './helpers/wait.ts';

it('tls: a runtime given a certificate and key answers over HTTPS', { skip: !hasOpenssl() && 'openssl is not installed' }, async (t) => {
  const cleanup = cleanupStack(t);
  const { dir, cert, key } = await selfSignedCertificate(cleanup);
  const rt = await createRuntime({ dataDir: join(dir, 'data'), port: 0, tlsCert: cert, tlsKey: key });
  cleanup.after(() => rt.close());
  assert.match(rt.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const answer = await withDeadline('an HTTPS answer', new Promise<{ status: number; body: string }>((resolve, reject) => {
    get(`${rt.url}/healthz`, { ca: readFileSync(cert) }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  }));
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).healthy, true);
});
