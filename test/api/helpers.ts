/**
 * A runtime and a logged-in management API client for the API tests:
 *
 *   const api = await startApi(t, { sessionTtlMs: 1 });
 *   const { status, body } = await api.call('GET', '/v4/organizations');
 */
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { ECHO_PROJECT } from '../helpers/echo-project.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

export const ADMIN = { email: 'admin@example.com', password: 'api-test-password' };
export { ECHO_PROJECT };
const REPO_NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));
/** One management call, its body read too: a hang-catcher, generous for a machine at load 20. */
const CALL_TIMEOUT_MS = 30_000;

export interface Reply { status: number; body: any; headers: Headers }

export interface Api {
  rt: Runtime;
  token: string;
  /** A JSON call with the session token (or `token`: another one, or null for none). */
  call(method: string, path: string, options?: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; token?: string | null }): Promise<Reply>;
  /** Creates a service with one environment through the API. */
  createEnvironment(service: string, environment?: string, extra?: Record<string, unknown>): Promise<{ serviceId: string; environmentId: string }>;
  /** POST /v4/jobs as kinvey-cli sends a deploy: `type`, `params`, then the tar in `file`. */
  upload(params: Record<string, unknown>, file: Buffer | undefined, type?: string): Promise<Reply>;
}

/** startApi's runtimes hash at the tests' cost (test/helpers/password-cost.ts) unless `options` say otherwise. */
export { TEST_PASSWORD_HASH_COST };

export async function startApi(t: CleanupContext, options: RuntimeOptions = {}): Promise<Api> {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-api-');
  const rt = await createRuntime({ dataDir, port: 0, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST, ...options });
  cleanup.after(() => rt.close());

  const call: Api['call'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? api.token : o.token;
    if (token !== null) headers.Authorization = `Kinvey ${token}`;
    let body = o.body;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['Content-Type'] = 'application/json';
    }
    const { res, text } = await withDeadline(`${method} ${path}`, (async () => {
      const res = await fetch(`${rt.url}${path}`, { method, headers, body });
      return { res, text: await res.text() };
    })(), CALL_TIMEOUT_MS);
    let parsed: unknown = text;
    try { parsed = text === '' ? undefined : JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  const api: Api = {
    rt,
    token: '',
    call,
    async createEnvironment(service, environment = 'Development', extra = {}) {
      const svc = await call('POST', '/v4/services', { json: { name: service, type: 'internal' } });
      if (svc.status !== 201) throw new Error(`create service: ${svc.status} ${JSON.stringify(svc.body)}`);
      const env = await call('POST', `/v4/services/${svc.body.id}/environments`, { json: { name: environment, secret: 'env-secret', ...extra } });
      if (env.status !== 201) throw new Error(`create environment: ${env.status} ${JSON.stringify(env.body)}`);
      return { serviceId: svc.body.id, environmentId: env.body.id };
    },
    upload(params, file, type = 'deployService') {
      const form = new FormData();
      form.append('type', type);
      form.append('params', JSON.stringify(params));
      if (file) form.append('file', new Blob([new Uint8Array(file)], { type: 'application/tar' }), 'archive.tar');
      return call('POST', '/v4/jobs', { body: form });
    },
  };
  const login = await call('POST', '/session', { json: ADMIN, token: null });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  api.token = login.body.token;
  return api;
}

/**
 * A copy of the echo project at `version` whose dependencies resolve from the repo's node_modules
 * (a symlink), so deployDirectory ships the resolved packages without an npm install.
 */
export async function echoProjectAt(t: CleanupContext, version: string): Promise<string> {
  const dir = await tempDir(t, 'flexd-echo-');
  const pkg = JSON.parse(await readFile(join(ECHO_PROJECT, 'package.json'), 'utf8'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, version }));
  await writeFile(join(dir, 'index.js'), await readFile(join(ECHO_PROJECT, 'index.js')));
  await symlink(REPO_NODE_MODULES, join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Calls the echo function of an environment through the data plane. */
export async function echo(api: Api, serviceId: string, environmentId: string): Promise<{ status: number; KEY?: string | null; version?: string }> {
  const { res, body } = await withDeadline('POST /_flexFunctions/echo', (async () => {
    const res = await fetch(`${api.rt.url}/flex/${serviceId}/${environmentId}/_flexFunctions/echo`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': 'env-secret' }, body: '{}',
    });
    return { res, body: await res.json() as { response?: { body?: { KEY?: string | null; version?: string } } } };
  })(), 30_000);
  return { status: res.status, ...body.response?.body };
}
