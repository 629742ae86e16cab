/**
 * `GET /metrics` (src/metrics/): counters exact after a known number of requests, gauges read
 * from the pools, names (not ids) as labels, and who may scrape.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { echoProjectAt, startApi, type Api } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { fetchWithin } from '../helpers/fetch-within.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

/** A deploy of a fixture whose SDK resolves from the repo (no npm install), or a swap, on a loaded machine: catches a hang. */
const DEPLOY_DEADLINE_MS = 120_000;

interface Sample { name: string; labels: Record<string, string>; value: number }

/** A runtime on flexd's defaults (no scrape token), started on first use: the counting test's, and the one the auth test reads without a token. */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const defaultRuntime = () => (shared ??= startApi(fileCleanup));

/** Prometheus' text exposition format, as a scraper reads it: `name{a="b",…} value`. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a line in the exposition format: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[2]?.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g) ?? []) labels[k!] = v!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(api: Api, authorization?: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetchWithin(`${api.rt.url}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

const call = (api: Api, secret: string) => fetchWithin(`${api.rt.url}/flex/orders/Development/_flexFunctions/echo`, {
  method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Key': secret }, body: '{}',
}).then((r) => r.status);

test('metrics: after 37 answered and 5 refused requests the counters say exactly that, by name, with replicas, memory, queue, deploys, restarts and log ring', async (t) => {
  const cleanup = cleanupStack(t);
  const api = await defaultRuntime();
  await withDeadline('the deploy', api.rt.deployDirectory(await echoProjectAt(cleanup, '1.0.0'), { service: 'orders', environment: 'Development', secret: 'env-secret' }), DEPLOY_DEADLINE_MS);
  const ids = { service: (await api.rt.context.store.services.findService('orders'))!.id };

  const statuses = [];
  for (let i = 0; i < 37; i++) statuses.push(await call(api, 'env-secret'));
  for (let i = 0; i < 5; i++) statuses.push(await call(api, 'wrong'));
  assert.deepEqual(statuses.filter((s) => s === 200).length, 37);
  await api.rt.context.logs.flush();

  const { status, text, type } = await scrape(api, `Bearer ${api.token}`);
  assert.equal(status, 200);
  assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
  const s = parse(text);
  const env = { service: 'orders', environment: 'Development' };
  assert.equal(value(s, 'flexd_requests_total', { ...env, code: '200' }), 37);
  assert.equal(value(s, 'flexd_requests_total', { ...env, code: '401' }), 5);
  assert.equal(value(s, 'flexd_request_duration_seconds_count', env), 42);
  assert.equal(value(s, 'flexd_request_duration_seconds_bucket', { ...env, le: '+Inf' }), 42);
  assert.ok(value(s, 'flexd_request_duration_seconds_sum', env)! > 0);
  assert.match(text, /^# TYPE flexd_request_duration_seconds histogram$/m);
  assert.match(text, /^# TYPE flexd_requests_total counter$/m);
  const buckets = s.filter((x) => x.name === 'flexd_request_duration_seconds_bucket' && x.labels.service === 'orders').map((x) => x.value);
  assert.equal(buckets.length, 16, '15 bounds and +Inf');
  assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), 'buckets are cumulative');
  assert.equal(value(s, 'flexd_replicas', { ...env, state: 'ready' }), 1);
  assert.equal(value(s, 'flexd_replicas', { ...env, state: 'starting' }), 0);
  assert.ok(value(s, 'flexd_replica_memory_bytes', env)! > 10 * 1024 * 1024, 'a replica takes more than 10 MB');
  assert.equal(value(s, 'flexd_queue_depth', env), 0);
  assert.equal(value(s, 'flexd_deploys_total', { ...env, result: 'success' }), 1);
  assert.ok(value(s, 'flexd_log_ring_bytes', env)! > 0, 'the echo function logs a line per call');
  assert.equal(value(s, 'flexd_environment_status', { ...env, status: 'ONLINE' }), 1);
  assert.equal(value(s, 'flexd_environment_status', { ...env, status: 'ERROR' }), 0);
  assert.equal(s.find((x) => x.name === 'flexd_build_info')?.labels.version, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  assert.ok(value(s, 'process_cpu_user_seconds_total', {})! > 0, 'process defaults');
  assert.ok(value(s, 'nodejs_heap_size_used_bytes', {})! > 0, 'Node defaults');
  assert.ok(!s.some((x) => Object.values(x.labels).includes(ids.service)), 'no ids as label values');

  // A failed deploy and a crash are counted too.
  await assert.rejects(withDeadline('the refused deploy', api.rt.deployDirectory(await echoProjectAt(cleanup, '0.0.1'), { service: 'orders', environment: 'Development' }), DEPLOY_DEADLINE_MS), /DeploymentVersionTooLow|greater/);
  const pid = api.rt.context.supervisor.pool((await api.rt.context.store.services.findEnvironment(ids.service, 'Development'))!.id)!.describe()[0]!.pid!;
  process.kill(pid, 'SIGKILL');
  const after = await waitFor('the crash to be counted', async () => {
    const x = parse((await scrape(api, `Kinvey ${api.token}`)).text);
    return value(x, 'flexd_replica_restarts_total', { ...env, reason: 'crash' }) === 1 ? x : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  assert.equal(value(after, 'flexd_deploys_total', { ...env, result: 'failure' }), 1);
  assert.equal(value(after, 'flexd_deploys_total', { ...env, result: 'success' }), 1);
  assert.equal(value(after, 'flexd_requests_total', { ...env, code: '200' }), 37, 'a scrape is not a data-plane request');
});

test('metrics: only a session (Bearer or Kinvey) or the scrape token may read /metrics; anything else is 401', async (t) => {
  const cleanup = cleanupStack(t);
  const api = await startApi(cleanup, { metricsToken: 'scrape-token-0123456789' });
  assert.equal((await scrape(api)).status, 401);
  assert.equal((await scrape(api, 'Bearer nope')).status, 401);
  assert.equal((await scrape(api, 'Bearer scrape-token-012345678')).status, 401, 'a prefix of the scrape token');
  assert.equal((await scrape(api, 'Basic c2NyYXBlOnRva2Vu')).status, 401);
  assert.equal((await scrape(api, 'Bearer scrape-token-0123456789')).status, 200);
  assert.equal((await scrape(api, `Bearer ${api.token}`)).status, 200);
  assert.equal((await scrape(api, `Kinvey ${api.token}`)).status, 200);
  const unauthorized = await fetchWithin(`${api.rt.url}/metrics`);
  assert.match(unauthorized.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal((await unauthorized.json() as { code: string }).code, 'InvalidCredentials');

  const logout = await api.call('DELETE', '/session');
  assert.equal(logout.status, 204);
  assert.equal((await scrape(api, `Bearer ${api.token}`)).status, 401, 'a session that ended');

  const without = await defaultRuntime();
  assert.equal((await scrape(without, 'Bearer undefined')).status, 401, 'no scrape token configured');
  assert.equal((await scrape(without, 'Bearer ')).status, 401);
});
