/**
 * flexd under benchmark, in its own process: createRuntime + commands over the IPC channel, so
 * the orchestrator (scripts/bench/run.ts) and the load generator never share its event loop.
 * Deploying goes through `rt.deployDirectory` (the same pipeline as an upload), not the
 * management API, which the bench does not measure.
 *
 *   fork('scripts/bench/flexd-server.ts', [JSON.stringify({ dataDir, settings })], { execArgv: ['--import', 'tsx'] })
 *   → { t: 'ready', url, pid }
 *   ← { id, cmd: 'deploy', dir, service, environment, secret?, settings? }   → { id, ok, value: { ms, activateMs, version } }
 *   ← { id, cmd: 'upload', dir, service, environment, version }              → { id, ok, value: { ms, version, progress } } (the management API, as kinvey-cli uploads)
 *   ← { id, cmd: 'pool', service, environment }                             → { replicaCount, replicas, spare }
 *   ← { id, cmd: 'replicaPids' }                                            → [{ environment, pid }]
 *   ← { id, cmd: 'logStats', service, environment }                         → { lines, dropped, storedBytes, dbBytes, rows, capBytes }
 *   ← { id, cmd: 'setEnvVars', service, environment, vars }                 → recycles with vars (bench only: bypasses validation)
 *   ← { id, cmd: 'profileStart', intervalUs? } · { id, cmd: 'profileStop', file } → a .cpuprofile of this process for that window
 *   ← { id, cmd: 'close' }                                                  → closes the runtime, then the process exits 0
 *
 * Bench-only instrumentation lives here, never in src/: log lines are counted per environment
 * by wrapping the LogWriter.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import * as tar from 'tar';
import { Session } from 'node:inspector';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import type { Settings } from '../../src/config.ts';

interface Start { dataDir: string; settings?: Partial<Settings> }
interface Command { id: number; cmd: string; [key: string]: any }

const start = JSON.parse(process.argv[2] ?? '{}') as Start;
if (!process.send || !start.dataDir) {
  console.error('flexd-server: run by scripts/bench/run.ts (fork with IPC), with {"dataDir": …}');
  process.exit(2);
}

const rt: Runtime = await createRuntime({ dataDir: start.dataDir, port: 0, adminEmail: 'bench@flexd.invalid', adminPassword: 'bench-password', ...start.settings });

let profiler: Session | undefined;

// Bench-only: how long the swap part of a deploy takes (start the new replicas, switch, retire
// the old ones), so a deploy's time splits into build and activation.
let lastActivateMs = NaN;
const activate = rt.context.supervisor.activate.bind(rt.context.supervisor);
rt.context.supervisor.activate = async (...args: Parameters<typeof activate>) => {
  const t0 = performance.now();
  try {
    return await activate(...args);
  } finally {
    lastActivateMs = performance.now() - t0;
  }
};
// Bench-only: when the last swap happened (the new version serving; the old replicas retire after it).
let lastSwapAt = NaN;
rt.context.events.on((e) => { if (e.type === 'swap') lastSwapAt = performance.now(); });
const lineCounts = new Map<string, number>();
const originalWrite = rt.context.logs.write.bind(rt.context.logs);
rt.context.logs.write = (record) => {
  lineCounts.set(record.environmentId, (lineCounts.get(record.environmentId) ?? 0) + 1);
  originalWrite(record);
};

async function environmentOf(service: string, environment: string) {
  const { services } = rt.context.store;
  const svc = await services.findService(service);
  const env = svc && await services.findEnvironment(svc.id, environment);
  if (!svc || !env) throw new Error(`no environment ${service}/${environment}`);
  return { svc, env };
}

let session: string | undefined;
/** A management API call as kinvey-cli makes it. */
async function api(method: string, path: string, body?: BodyInit, json?: unknown): Promise<any> {
  session ??= (await (await fetch(`${rt.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@flexd.invalid', password: 'bench-password' }) })).json()).token;
  const headers: Record<string, string> = { Authorization: `Kinvey ${session}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${rt.url}${path}`, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const handlers: Record<string, (c: Command) => unknown> = {
  /** Upload → the job COMPLETED (the new version serving), through the management API; the tar is made before the clock starts. */
  async upload(c) {
    const { services } = rt.context.store;
    let svc = await services.findService(c.service);
    if (!svc) svc = (await services.findService((await api('POST', '/v4/services', undefined, { name: c.service, type: 'internal' })).name))!;
    let env = await services.findEnvironment(svc.id, c.environment);
    if (!env) {
      await api('POST', `/v4/services/${svc.id}/environments`, undefined, { name: c.environment, secret: c.secret ?? '' });
      env = (await services.findEnvironment(svc.id, c.environment))!;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: c.dir, portable: true }, readdirSync(c.dir).filter((f) => f !== 'node_modules'))) chunks.push(chunk as Buffer);
    const form = new FormData();
    form.append('type', 'deployService');
    form.append('params', JSON.stringify({ serviceId: svc.id, serviceEnvironmentId: env.id, version: c.version }));
    form.append('file', new Blob([new Uint8Array(Buffer.concat(chunks))], { type: 'application/tar' }), 'archive.tar');
    const started = performance.now();
    const { job } = await api('POST', '/v4/jobs', form);
    const done = await rt.context.deployer.jobs.wait(job);
    const ms = performance.now() - started;
    if (done.status !== 'COMPLETED') throw new Error(`upload of ${c.version} ended ${done.status}: ${done.progress}`);
    return { ms, version: rt.context.supervisor.pool(env.id)?.version, progress: done.progress };
  },
  /** A rollback to a stored version, until its job is COMPLETED (the version serving). */
  async rollback(c) {
    const { svc, env } = await environmentOf(c.service, c.environment);
    lastActivateMs = NaN;
    lastSwapAt = NaN;
    const started = performance.now();
    const job = await rt.context.deployer.rollback(svc.id, env.id, c.version, null);
    const done = await rt.context.deployer.jobs.wait(job.id);
    const ms = performance.now() - started;
    if (done.status !== 'COMPLETED') throw new Error(`rollback to ${c.version} ended ${done.status}: ${done.progress}`);
    return { ms, servingMs: lastSwapAt - started, activateMs: lastActivateMs, version: rt.context.supervisor.pool(env.id)?.version };
  },
  async deploy(c) {
    const { services, accounts } = rt.context.store;
    if (c.settings) {
      // Per-environment settings (idleTimeoutMs…) are set when the environment is created.
      const svc = await services.findService(c.service) ?? await services.createService((await accounts.defaultOrganization()).id, c.service);
      if (!await services.findEnvironment(svc.id, c.environment)) {
        await services.createEnvironment(svc.id, { name: c.environment, secret: c.secret ?? '', settings: c.settings });
      }
    }
    lastActivateMs = NaN;
    lastSwapAt = NaN;
    const started = performance.now();
    await rt.deployDirectory(c.dir, { service: c.service, environment: c.environment, secret: c.secret, ...(c.version ? { version: c.version } : {}) });
    const ms = performance.now() - started;
    const { env } = await environmentOf(c.service, c.environment);
    return { ms, servingMs: lastSwapAt - started, activateMs: lastActivateMs, version: rt.context.supervisor.pool(env.id)?.version };
  },
  async pool(c) {
    const { env } = await environmentOf(c.service, c.environment);
    const pool = rt.context.supervisor.pool(env.id);
    return { replicaCount: pool?.replicaCount ?? 0, replicas: pool?.describe() ?? [], spare: pool?.spareState ?? { state: 'none' } };
  },
  /** The replicas' pids by environment; the orchestrator reads their memory from /proc. */
  async replicaPids() {
    const out: { environment: string; pid: number }[] = [];
    for (const env of await rt.context.store.services.listEnvironments()) {
      for (const r of rt.context.supervisor.pool(env.id)?.describe() ?? []) {
        if (r.pid !== undefined && r.state !== 'exited') out.push({ environment: env.name, pid: r.pid });
      }
    }
    return out;
  },
  async logStats(c) {
    const { env } = await environmentOf(c.service, c.environment);
    if (c.flush !== false) await rt.context.logs.flush();
    const row = await rt.context.store.logs.stored(env.id);
    return {
      // Lines the writer dropped because its thread fell behind count as lost.
      lines: (lineCounts.get(env.id) ?? 0) - rt.context.logs.droppedLines(env.id),
      dropped: rt.context.logs.droppedLines(env.id),
      storedBytes: rt.context.store.logs.bytes(env.id),
      dbBytes: row.bytes,
      rows: row.rows,
      capBytes: rt.context.settings.logRingBytes,
    };
  },
  /** The environment's last log lines (for a failed phase's report). */
  async logTail(c) {
    const { env } = await environmentOf(c.service, c.environment);
    await rt.context.logs.flush();
    const rows = await rt.context.store.logs.latest(env.id, c.lines ?? 40);
    return rows.map((r) => `${r.containerId} ${r.message}`);
  },
  /** Bench only: sets variables the API refuses (NODE_OPTIONS, to profile a replica), then swaps. */
  async setEnvVars(c) {
    const { svc, env } = await environmentOf(c.service, c.environment);
    await rt.context.store.services.updateEnvironment(env.id, { envVars: c.vars });
    const job = await rt.context.deployer.recycle(svc.id, env.id, null);
    const done = await rt.context.deployer.jobs.wait(job.id);
    if (done.status !== 'COMPLETED') throw new Error(done.progress);
    return { status: done.status };
  },
  /** CPU profile of this process for a window only (start-up and deploys left out). */
  profileStart(c) {
    profiler = new Session();
    profiler.connect();
    profiler.post('Profiler.enable');
    profiler.post('Profiler.setSamplingInterval', { interval: c.intervalUs ?? 500 });
    profiler.post('Profiler.start');
    return { started: true };
  },
  profileStop(c) {
    if (!profiler) throw new Error('no profile running');
    const session = profiler;
    profiler = undefined;
    return new Promise((resolve, reject) => {
      session.post('Profiler.stop', (err, result) => {
        session.disconnect();
        if (err) { reject(err); return; }
        writeFileSync(c.file, JSON.stringify(result.profile));
        resolve({ file: c.file });
      });
    });
  },
  async close() {
    await rt.close();
    return { closed: true };
  },
};

process.on('message', (c: Command) => {
  const handler = handlers[c.cmd];
  void (async () => {
    try {
      if (!handler) throw new Error(`unknown command ${c.cmd}`);
      const value = await handler(c);
      // After `close` the process exits once the answer is out (a --cpu-prof profile is written at exit).
      process.send!({ id: c.id, ok: true, value }, () => { if (c.cmd === 'close') process.exit(0); });
    } catch (err) {
      const e = err as Error & { debug?: string };
      process.send!({ id: c.id, ok: false, error: `${e.stack ?? String(err)}${e.debug ? `\n${e.debug}` : ''}` });
    }
  })();
});

// The orchestrator is gone: take the replicas down with us.
process.on('disconnect', () => { void rt.close().finally(() => process.exit(0)); });
process.on('SIGTERM', () => { void rt.close().finally(() => process.exit(0)); });

process.send({ t: 'ready', url: rt.url, pid: process.pid });
