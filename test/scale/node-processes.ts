/**
 * flexd nodes as separate OS processes on one PostgreSQL (`node bin/flexd.js serve --database …`),
 * for the scale tests that kill, pause and restart a node (not a test file: the runner only picks
 * up *.test.ts). The nodes run the compiled package (helpers/packed.ts), as an operator installs
 * it: about half the CPU of the checkout's tsx start, paid by every node of every test. Heartbeats, leases and polls are short here so that a dead node is seen gone and
 * its job retaken within seconds:
 *
 *   const a = await startNode(cleanup, { database, name: 'a' });
 *   const token = await logIn(a.url);
 *   await a.kill();                                  // SIGKILL, as a crash
 *   const again = await startNode(cleanup, { database, name: 'a', dataDir: a.dataDir });
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';
import { serveEnv, spawnServe, SERVE_START_TIMEOUT_MS, type Served } from '../helpers/serve.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { ECHO_PROJECT } from '../helpers/echo-project.ts';
import { tarOf } from '../fixtures/deploy/archives.ts';

export const ADMIN = { email: 'ops@example.com', password: 'scale-nodes-password' };
/** A deploy installs kinvey-flex-sdk through the building node's own npm cache (cold on a first run): generous on a loaded machine. */
export const DEPLOY_TIMEOUT_MS = 240_000;
/**
 * Seconds, not the defaults' tens of seconds, so deaths and retakes show quickly; wide enough that a
 * live node starved of CPU on a loaded 2-core machine (CI saw 3 s windows lapse at load 35) is
 * never taken for dead.
 */
export const FAST_CLUSTER = ['--node-heartbeat-ms', '500', '--node-live-window-ms', '8000', '--job-lease-ms', '8000', '--job-poll-ms', '500'];

export interface NodeProcess {
  readonly name: string;
  readonly dataDir: string;
  readonly url: string;
  readonly served: Served;
  readonly pid: number;
  /** SIGKILL, as a crash or a dead machine; resolves once the process is gone */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop: it drains); resolves once the process is gone */
  stop(): Promise<void>;
}

export async function startNode(cleanup: CleanupContext, o: { database: string; name: string; dataDir?: string; args?: string[] }): Promise<NodeProcess> {
  const dataDir = o.dataDir ?? await tempDir(cleanup, `flexd-node-${o.name}-`);
  // Each node's npm cache its own (its fetch account is another uid), warm with what earlier builds fetched.
  const npmCache = await warmNpmCache(cleanup);
  // The admin's hash and every login check at the tests' cost (helpers/password-cost.ts), not the default's ~90 ms each.
  const served = spawnServe(cleanup, ['--database', o.database, '--node-name', o.name, '--data-dir', dataDir, '--npm-cache-dir', npmCache,
    '--password-hash-cost', String(TEST_PASSWORD_HASH_COST), ...FAST_CLUSTER, ...(o.args ?? [])],
    { env: serveEnv({ FLEXD_ADMIN_EMAIL: ADMIN.email, FLEXD_ADMIN_PASSWORD: ADMIN.password }), bin: await installedFlexdBin() });
  const url = await withDeadline(`node ${o.name} to listen`, served.url, SERVE_START_TIMEOUT_MS * 2);
  const end = async (signal: NodeJS.Signals) => {
    if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill(signal);
    await withDeadline(`node ${o.name} to exit`, served.exited, 60_000);
  };
  return { name: o.name, dataDir, url, served, pid: served.child.pid!, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

export interface Reply { status: number; body: any; headers: Headers }

/** How long one call (its body read too) may take: a hang-catcher, generous for a machine at load 20. */
const CALL_TIMEOUT_MS = 60_000;

/** One management call, JSON in and out (or a FormData body). */
export async function call(url: string, token: string | null, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = token ? { Authorization: `Kinvey ${token}` } : {};
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const { res, text } = await withDeadline(`${method} ${url}${path}`, (async () => {
    const res = await fetch(`${url}${path}`, { method, headers, body: payload });
    return { res, text: await res.text() };
  })(), CALL_TIMEOUT_MS);
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

export async function logIn(url: string): Promise<string> {
  const r = await call(url, null, 'POST', '/session', ADMIN);
  if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { token: string }).token;
}

/** A service with one environment, made through `url`; their ids. */
export async function makeTarget(url: string, token: string, service: string, environment: string): Promise<{ serviceId: string; environmentId: string }> {
  const svc = await call(url, token, 'POST', '/v4/services', { name: service, type: 'internal' });
  if (svc.status !== 201) throw new Error(`create service: ${svc.status} ${JSON.stringify(svc.body)}`);
  const env = await call(url, token, 'POST', `/v4/services/${svc.body.id}/environments`, { name: environment, secret: 'env-secret' });
  if (env.status !== 201) throw new Error(`create environment: ${env.status} ${JSON.stringify(env.body)}`);
  return { serviceId: svc.body.id, environmentId: env.body.id };
}

/** Uploads `archive` as a deploy job through `url`, as kinvey-cli does; the job's id. */
export async function uploadDeploy(url: string, token: string, target: { serviceId: string; environmentId: string }, archive: Buffer, version: string): Promise<string> {
  const form = new FormData();
  form.append('type', 'deployService');
  form.append('params', JSON.stringify({ serviceId: target.serviceId, serviceEnvironmentId: target.environmentId, version }));
  form.append('file', new Blob([new Uint8Array(archive)], { type: 'application/tar' }), 'archive.tar');
  const r = await call(url, token, 'POST', '/v4/jobs', form);
  if (r.status !== 201) throw new Error(`upload: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { job: string }).job;
}

/** The job as `GET /v4/jobs/:id` shows it through `url`. */
export async function job(url: string, token: string, id: string): Promise<{ status: string; node: string | null; progress: string }> {
  const r = await call(url, token, 'GET', `/v4/jobs/${id}`);
  if (r.status !== 200) throw new Error(`job: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Waits for the job to end; throws with its progress when it ends in ERROR. */
export async function finished(url: string, token: string, id: string, timeoutMs = DEPLOY_TIMEOUT_MS): Promise<{ status: string; node: string | null; progress: string }> {
  const done = await waitFor(`job ${id} to finish`, async () => {
    const j = await job(url, token, id).catch(() => undefined);
    return j && (j.status === 'COMPLETED' || j.status === 'ERROR') ? j : undefined;
  }, { timeoutMs, intervalMs: 250 });
  if (done.status !== 'COMPLETED') throw new Error(`job ${id} ended ${done.status} on node ${done.node}:\n${done.progress}`);
  return done;
}

/** The echo project (test/fixtures/cli-project) at `version`, as an uploaded tar (npm installs kinvey-flex-sdk on the building node). */
export async function echoArchive(cleanup: CleanupContext, version: string, extra: Record<string, unknown> = {}, files: Record<string, string> = {}): Promise<Buffer> {
  const dir = await tempDir(cleanup, 'flexd-echo-upload-');
  const pkg = JSON.parse(await readFile(join(ECHO_PROJECT, 'package.json'), 'utf8'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, version, ...extra }, null, 2));
  await cp(join(ECHO_PROJECT, 'index.js'), join(dir, 'index.js'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return tarOf(dir);
}

/** The echo function through `url`: what it answers (KEY and version), or the status (0: no answer, also none within a minute). */
export async function echo(url: string, service: string, environment: string): Promise<{ status: number; KEY?: string | null; version?: string }> {
  try {
    const res = await fetch(`${url}/flex/${service}/${environment}/_flexFunctions/echo`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'X-Auth-Key': 'env-secret' }, body: '{}', signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status };
    return { status: 200, ...(JSON.parse(text) as { response: { body: { KEY: string | null; version: string } } }).response.body };
  } catch {
    return { status: 0 };
  }
}
