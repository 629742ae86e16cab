/**
 * What the lifecycle battery (RELIABILITY.md F2–F15, L1–L3) shares: a runtime with short
 * intervals, fixture copies at any version, an HTTP client on a keep-alive agent that reports
 * socket errors instead of hiding them, log lines, and process checks.
 *
 *   const cleanup = cleanupStack(t);
 *   const h = await startRuntime(cleanup, { requestTimeoutMs: 1500 });
 *   await deployFixture(h, cleanup, 'versioned', '2.0.0', { service: 'svc', environment: 'Development' });
 *   const { status, answer } = await callFunction(h.base('svc', 'Development'), 'whoami');
 */
import { cpSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type RuntimeOptions } from '../../src/runtime.ts';
import type { Pool } from '../../src/supervisor/pool.ts';
import type { LogRow } from '../../src/store/logs.ts';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { childrenOf, processGone } from '../helpers/processes.ts';

export type Runtime = Awaited<ReturnType<typeof createRuntime>>;

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const FAULTS_DIR = fileURLToPath(new URL('../fixtures/faults/', import.meta.url));
/**
 * Fixture copies live inside the repository so `kinvey-flex-sdk` resolves from its
 * node_modules and a deploy skips `npm install` (about a second instead of a registry round).
 */
const COPIES_DIR = join(REPO_DIR, 'test', '.tmp');

/** A deploy of a fixture whose dependencies resolve in place: bundle + start, about a second; allow for a loaded box. */
export const DEPLOY_TIMEOUT_MS = 60_000;
/** An answer that should come at once (no timeout involved) comes well within this. */
export const PROMPT_MS = 5_000;
/**
 * A replica's cold start (spawn, the SDK loaded, ready) on a machine at load 20, with room to spare:
 * the deadline of every wait that includes one (a replacement after a kill, the first request after
 * idling). It catches a start that never comes; it does not time the start.
 */
export const COLD_START_MS = 60_000;

/**
 * Intervals short enough for a test, long enough not to trip on a loaded 2-core box. Each test
 * overrides what its fault is about.
 */
export const FAST: RuntimeOptions = {
  requestTimeoutMs: 10_000,
  readyTimeoutMs: 15_000,
  stopGraceMs: 1_000,
  memoryCheckIntervalMs: 100,
  livenessIntervalMs: 2_000,
  livenessTimeoutMs: 2_000,
  restartBackoffBaseMs: 20,
  restartBackoffMaxMs: 500,
  logFlushIntervalMs: 20,
  idleTimeoutMs: 0,
};

export interface Harness {
  rt: Runtime;
  dataDir: string;
  /** `/flex/{service}/{environment}` on this runtime. */
  base(service: string, environment: string): string;
  environmentId(service: string, environment: string): string;
  pool(service: string, environment: string): Pool;
  /** Closes the runtime once, however often it is called (by the test and by its cleanup). */
  close(): Promise<void>;
}

/** A runtime on port 0 with a fresh data dir (or `dataDir`), closed by `cleanup`. */
export async function startRuntime(cleanup: CleanupContext, options: RuntimeOptions = {}, dataDir?: string): Promise<Harness> {
  const dir = dataDir ?? await tempDir(cleanup, 'flexd-lifecycle-');
  const rt = await createRuntime({ ...FAST, ...options, dataDir: dir, port: 0 });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= rt.close());
  cleanup.after(close);
  // From the runtime's in-memory directory (refreshed on every change), so the tests' lookups stay synchronous.
  const environmentId = (service: string, environment: string) => {
    const env = rt.context.directory.find(service, environment);
    if (!env) throw new Error(`no environment ${service}/${environment}`);
    return env.id;
  };
  return {
    rt,
    dataDir: dir,
    base: (service, environment) => `${rt.url}/flex/${service}/${environment}`,
    environmentId,
    pool(service, environment) {
      const pool = rt.context.supervisor.pool(environmentId(service, environment));
      if (!pool) throw new Error(`no pool for ${service}/${environment}`);
      return pool;
    },
    close,
  };
}

export interface Target {
  service: string;
  environment: string;
  secret?: string;
  env?: Record<string, string>;
  /** the environment's own settings, set before its first deploy (e.g. `permissionModel: false` for a service that starts processes) */
  settings?: Record<string, number | boolean>;
}

/**
 * A copy of `test/fixtures/faults/<name>` whose package.json says `version`, inside the repo
 * (see COPIES_DIR); removed by `cleanup`.
 */
export function fixtureCopy(cleanup: CleanupContext, name: string, version: string): string {
  const dir = join(COPIES_DIR, `${name}-${version}-${randomBytes(4).toString('hex')}`);
  mkdirSync(COPIES_DIR, { recursive: true });
  cpSync(join(FAULTS_DIR, name), dir, { recursive: true });
  const manifest = join(dir, 'package.json');
  writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), version }, null, 2));
  cleanup.after(() => {
    rmSync(dir, { recursive: true, force: true });
    try { rmdirSync(COPIES_DIR); } catch { /* another test's copy is still there */ }
  });
  return dir;
}

/** Deploys fixture `name` at `version` (copied when it is not the fixture's own 1.0.0); resolves once it serves. */
export async function deployFixture(h: Harness, cleanup: CleanupContext, name: string, version: string, target: Target) {
  const dir = version === '1.0.0' ? join(FAULTS_DIR, name) : fixtureCopy(cleanup, name, version);
  if (target.settings) await presetEnvironment(h, target);
  return withDeadline(`deploy of ${name} ${version} to ${target.service}/${target.environment}`,
    h.rt.deployDirectory(dir, deployOptions(target)), DEPLOY_TIMEOUT_MS);
}

/** What deployDirectory takes of a target: the environment's settings are set beforehand (presetEnvironment). */
export function deployOptions({ settings: _settings, ...options }: Target): Omit<Target, 'settings'> {
  return options;
}

/**
 * Creates the target environment (when it does not exist yet) with `target.settings`. Settings are
 * a user's input, not an outcome of flexd's: the store records them as the management API's
 * create and update do (after its validation, tested in test/api/environments.test.ts), before the
 * first deploy, so no restart is involved. A test whose point is a change of settings on a serving
 * environment makes it through the API (test/lifecycle/settings.test.ts).
 */
export async function presetEnvironment(h: Harness, target: Target): Promise<void> {
  const { services, accounts } = h.rt.context.store;
  const svc = (await services.findService(target.service)) ?? (await services.createService((await accounts.defaultOrganization()).id, target.service));
  const env = (await services.findEnvironment(svc.id, target.environment));
  if (!env) await services.createEnvironment(svc.id, { name: target.environment, secret: target.secret ?? '', settings: target.settings });
  else await services.updateEnvironment(env.id, { settings: { ...env.settings, ...target.settings } });
}

/** Like deployFixture, for a version that must fail: resolves with the error the deploy rejected with. */
export async function failedDeploy(h: Harness, cleanup: CleanupContext, name: string, version: string, target: Target): Promise<Error & { debug?: string; code?: string }> {
  try {
    await deployFixture(h, cleanup, name, version, target);
  } catch (err) {
    return err as Error & { debug?: string };
  }
  throw new Error(`the deploy of ${name} ${version} succeeded; it should have failed`);
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body when it is JSON. */
  json: any;
  /** Milliseconds from sending to the end of the answer. */
  ms: number;
}

/**
 * One HTTP request with node:http, so the agent (keep-alive, socket count) is the test's. A
 * socket error (reset, refused) rejects with the error's code: a test that counts failures
 * sees every one of them. `timeoutMs` bounds the whole exchange.
 */
export function request(url: string, o: { method?: string; body?: unknown; headers?: Record<string, string>; agent?: Agent; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const started = Date.now();
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: o.method ?? (body === undefined ? 'GET' : 'POST'),
      agent: o.agent,
      headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...o.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: Date.now() - started });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms from ${url}`)), o.timeoutMs ?? 30_000);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(body);
  });
}

export interface FunctionAnswer extends HttpAnswer {
  /** X-Flexd-Version: the version flexd says served the request. */
  version: string | undefined;
  /** The handler's body (`response.body` of the `{request, response}` answer), or the error body. */
  answer: any;
}

/** `POST {base}/_flexFunctions/{name}` with `body`. */
export async function callFunction(base: string, name: string, body: unknown = {}, o: { agent?: Agent; secret?: string; timeoutMs?: number } = {}): Promise<FunctionAnswer> {
  const res = await request(`${base}/_flexFunctions/${name}`, {
    body, agent: o.agent, timeoutMs: o.timeoutMs, headers: o.secret === undefined ? {} : { 'X-Auth-Key': o.secret },
  });
  const version = res.headers['x-flexd-version'] as string | undefined;
  return { ...res, version, answer: res.status === 200 ? res.json?.response?.body : res.json };
}

/** The pid of the replica that answers `whoami` now; asserts a 200. */
export async function whoami(base: string, label: string, o: { secret?: string; timeoutMs?: number } = {}): Promise<{ pid: number; version?: string }> {
  const res = await withDeadline(label, callFunction(base, 'whoami', {}, o), o.timeoutMs ?? PROMPT_MS);
  if (res.status !== 200 || typeof res.answer?.pid !== 'number') throw new Error(`${label}: ${res.status} ${res.text.slice(0, 500)}`);
  return { pid: res.answer.pid, version: res.version };
}

/** Every stored log line of an environment, oldest first (pending lines flushed first). */
export async function logLines(h: Harness, service: string, environment: string): Promise<LogRow[]> {
  await h.rt.context.logs.flush();
  return (await h.rt.context.store.logs.query(h.environmentId(service, environment), { limit: 100_000, page: 1 }));
}

/** Waits for a log line of the environment matching `pattern`; resolves with it. */
export function waitForLog(h: Harness, service: string, environment: string, pattern: RegExp, timeoutMs = PROMPT_MS): Promise<LogRow> {
  return waitFor(`a log line matching ${pattern}`, async () => (await logLines(h, service, environment)).find((l) => pattern.test(l.message)), { timeoutMs });
}

export { childrenOf, processGone } from '../helpers/processes.ts';

export async function waitForProcessGone(pid: number, label: string, timeoutMs = PROMPT_MS): Promise<boolean> {
  await processGone(pid); // throws at once for a pid that is not one, rather than when the wait runs out
  return waitFor(`${label} (pid ${pid}) to be gone`, () => processGone(pid), { timeoutMs, intervalMs: 10 });
}

/** Children of `pid` that are replicas (their command line runs flexd's child entry), not yet exited. */
export async function replicaProcessesOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const child of await childrenOf(pid)) {
    try {
      const argv = (await readFile(`/proc/${child}/cmdline`, 'utf8')).split('\0');
      if (argv.some((a) => /[\\/]child-[0-9a-f]+\.cjs$/.test(a)) && !(await processGone(child))) found.push(child);
    } catch { /* gone meanwhile */ }
  }
  return found;
}

export { killGroupLater, killLater, signal } from '../helpers/kill-later.ts';


/** A keep-alive agent for `sockets` concurrent clients, destroyed by `cleanup`. */
export function keepAliveAgent(cleanup: CleanupContext, sockets: number): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  cleanup.after(() => agent.destroy());
  return agent;
}

export interface LoadRecord {
  client: number;
  startedAt: number;
  endedAt: number;
  status: number;
  /** X-Flexd-Version */
  header?: string;
  /** the version in the handler's body */
  body?: string;
  error?: string;
}

/**
 * `clients` loops, each sending `whoami` back to back on the shared keep-alive agent until
 * `stop()`; every request is recorded, a socket error as `status: 0` with its code.
 */
export function hammer(base: string, clients: number, agent: Agent): { records: LoadRecord[]; stop(): Promise<void> } {
  const records: LoadRecord[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    while (running) {
      const startedAt = Date.now();
      try {
        const res = await callFunction(base, 'whoami', {}, { agent, timeoutMs: 20_000 });
        records.push({ client, startedAt, endedAt: Date.now(), status: res.status, header: res.version, body: res.answer?.version, error: res.status === 200 ? undefined : res.text.slice(0, 300) });
      } catch (err) {
        records.push({ client, startedAt, endedAt: Date.now(), status: 0, error: `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}` });
      }
    }
  });
  return {
    records,
    async stop() {
      running = false;
      await withDeadline('the load clients to finish their last requests', Promise.all(loops), 30_000);
    },
  };
}

/** Requests of the load sent after `t` that some other version than `version` answered, or that failed. */
export function strays(records: readonly LoadRecord[], after: number, version: string): LoadRecord[] {
  return records.filter((r) => r.startedAt > after && (r.status !== 200 || r.header !== version || r.body !== version));
}
