import { getRequestListener } from '@hono/node-server';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { bootstrapAdmin } from './api/admin.ts';
import { createManagementApi } from './api/app.ts';
import { resolveSettings, type Settings } from './config.ts';
import type { RuntimeContext } from './context.ts';
import { createDataPlane } from './dataplane/handler.ts';
import { EnvironmentDirectory } from './dataplane/directory.ts';
import { Deployer } from './deploy/pipeline.ts';
import { embeddingCalls } from './embedding/calls.ts';
import { makeTemporaryDataDir, markTemporary, removeTemporaryDataDir, sweepAbandonedDataDirs } from './embedding/temporary-data-dir.ts';
import type { OpenWatches } from './embedding/watch.ts';
import { BodyBudget } from './edge/budget.ts';
import { capConnections } from './edge/connections.ts';
import { FlexdError } from './errors.ts';
import { EventBus } from './events/bus.ts';
import { logServerEvents } from './events/server-log.ts';
import { runsAsRoot } from './isolation/accounts.ts';
import { claimUidRange, type RangeClaim } from './isolation/range-claim.ts';
import { Metrics } from './metrics/registry.ts';
import { environmentStatus } from './api/status.ts';
import { LogThread } from './logs/store-thread.ts';
import { LogWriter } from './logs/writer.ts';
import { createLogger, silentLogger, type Logger } from './logger.ts';
import { environmentNames } from './events/names.ts';
import type { Runtime as PublicRuntime, RuntimeOptions } from './public.ts';
import { openCatalog } from './runtimes/index.ts';
import { openStore, type Store } from './store/index.ts';
import type { openPostgresStore } from './store/postgres.ts';
import { PostgresLogRing } from './store/postgres-log-ring.ts';
import { PostgresLogSink } from './logs/postgres-sink.ts';
import { defaultNodeName, singleNode, type Cluster } from './cluster/index.ts';
import type { PostgresCluster } from './cluster/postgres.ts';
import { lockDataDir } from './store/lock.ts';
import { Supervisor } from './supervisor/index.ts';

/** Sweep for connections past headersTimeoutMs at least this often: a slow header is cut within a second of its deadline. */
const HEADERS_SWEEP_MAX_INTERVAL_MS = 1_000;

export type { DeployDirectoryOptions, RuntimeOptions } from './public.ts';

/**
 * The runtime as flexd's own code and tests see it: the public one (public.ts) plus its
 * context — the store, supervisor and deployer, which are internal and free to change.
 */
export interface Runtime extends PublicRuntime {
  readonly context: RuntimeContext;
}

/**
 * Starts a flexd runtime in this process: the same one `flexd serve` runs.
 *
 * @example
 * const rt = await createRuntime({ dataDir: tmp, port: 0 });
 * await rt.deployDirectory('test/fixtures/kitchen-sink', { service: 'kitchen', environment: 'Development' });
 * await fetch(`${rt.url}/flex/kitchen/Development/healthcheck`);
 * await rt.close();
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const { dataDir: dataDirOption, temporary, tlsCert, tlsKey, adminEmail, adminPassword, generateAdminPassword, runtimes, logger, log: logTo, logFormat, metricsToken, ...overrides } = options;
  const log: Logger = logger ?? (logTo === 'stderr' ? createLogger({ format: logFormat }) : silentLogger);
  const requested = resolveSettings(overrides);
  // Half a TLS configuration once printed an https:// URL and served plain HTTP (issue 9, finding 6).
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new FlexdError('InvalidTlsConfiguration', `--tls-cert and --tls-key go together: ${tlsCert ? '--tls-key' : '--tls-cert'} is missing`, { status: 500 });
  }
  if (temporary !== undefined && typeof temporary !== 'boolean') throw new FlexdError('ValidationError', `temporary must be true or false, not ${typeof temporary}`);
  if (temporary && dataDirOption !== undefined) throw new FlexdError('ValidationError', 'dataDir and temporary: true go apart: a temporary runtime makes its own data dir');
  const dataDir = resolve(temporary ? await makeTemporaryDataDir() : dataDirOption ?? requested.dataDir);
  const catalog = openCatalog(requested, dataDir, runtimes ?? {});
  let lock: Awaited<ReturnType<typeof lockDataDir>>;
  try {
    lock = await lockDataDir(dataDir);
    if (temporary) await markTemporary(dataDir);
    // A temporary data dir whose runtime died is swept by the next runtime, whichever it is.
    else void sweepAbandonedDataDirs().catch(() => {});
  } catch (err) {
    if (temporary) await removeTemporaryDataDir(dataDir);
    throw err;
  }
  const releaseDataDir = async () => {
    await lock.release();
    if (temporary) await removeTemporaryDataDir(dataDir);
  };
  let store: Store;
  let uidRange: RangeClaim;
  let postgres: Awaited<ReturnType<typeof openPostgresStore>> | undefined;
  let pgCluster: PostgresCluster | undefined;
  const nodeName = requested.nodeName || defaultNodeName();
  try {
    uidRange = await claimUidRange(requested, overrides.uidRangeStart !== undefined);
    if (requested.database) {
      // Several nodes on one PostgreSQL: the data dir keeps only caches and working files.
      // PostgreSQL's client (pg) and the cluster's code are loaded only here, not by a runtime on SQLite.
      const [{ openPostgresStore }, { PostgresCluster }] = await Promise.all([import('./store/postgres.ts'), import('./cluster/postgres.ts')]);
      store = postgres = await openPostgresStore(requested.database, nodeName);
      pgCluster = new PostgresCluster({
        url: requested.database, client: postgres.client, store, name: nodeName, flexdVersion: FLEXD_VERSION,
        heartbeatMs: requested.nodeHeartbeatMs, liveWindowMs: requested.nodeLiveWindowMs, log,
      });
      try {
        await pgCluster.join();
      } catch (err) {
        await store.close();
        throw err;
      }
    } else {
      store = await openStore(dataDir, nodeName);
    }
  } catch (err) {
    await uidRange!?.release();
    await releaseDataDir();
    throw err;
  }
  // The default uid range moves up when another flexd on this host holds it (isolation/range-claim.ts).
  const settings = uidRange.start === requested.uidRangeStart ? requested : resolveSettings({ ...overrides, uidRangeStart: uidRange.start });
  const sink = postgres ? new PostgresLogSink(new PostgresLogRing(postgres.client), store.logs) : new LogThread(store.file!, store.logs);
  const logs = new LogWriter(sink, {
    capBytes: () => settings.logRingBytes, flushIntervalMs: settings.logFlushIntervalMs, maxLines: settings.logFlushMaxLines, log,
  });
  const events = new EventBus();
  const directory = new EnvironmentDirectory(store);
  logServerEvents(events, directory, log);
  const announce = (environmentId: string) => cluster.announce(environmentId);
  const supervisor = new Supervisor({ dataDir, settings, store, logs, events, log, announce });
  const cluster: Cluster = pgCluster ?? singleNode(nodeName, FLEXD_VERSION, supervisor);
  log.info({ dataDir, ...(runsAsRoot() ? { uidRange: `${settings.uidRangeStart}-${settings.uidRangeStart + settings.uidRangeSize - 1}` } : {}) }, `replica isolation: ${supervisor.describeIsolation()}`);
  const deployer = new Deployer({ store, supervisor, settings, dataDir, runtimes: catalog, events, log, announce, nodeName, follow: (id) => pgCluster?.follow(id) });
  const metrics = new Metrics({
    store, directory, supervisor, events, scrapeToken: metricsToken, version: FLEXD_VERSION,
    status: async (id) => { const env = await store.services.getEnvironment(id); return env ? String((await environmentStatus(context, env)).status) : 'NEW'; },
  });
  const context: RuntimeContext = { settings, dataDir, store, cluster, directory, logs, supervisor, deployer, runtimes: catalog, log, events, metrics };
  await store.accounts.defaultOrganization();
  const admin = await bootstrapAdmin(context, { email: adminEmail, password: adminPassword, generate: generateAdminPassword });

  await pgCluster?.prepare(supervisor, deployer);
  await deployer.restoreAll();
  await pgCluster?.start();
  // On PostgreSQL: retake jobs whose node stopped running them (docs/scale-out.md, "Jobs").
  deployer.jobs.startClaiming();
  await directory.current();
  const environments = (await store.services.listEnvironments()).filter((e) => e.activeVersionId);
  for (const env of environments.filter((e) => !supervisor.pool(e.id))) {
    log.error({ ...environmentNames(directory, env.id), reason: (await store.services.getEnvironment(env.id))?.lastError ?? 'unknown' }, 'could not restore an environment');
  }

  const dataPlane = createDataPlane({
    directory, supervisor, bodyLimitBytes: settings.bodyLimitBytes, bodyBudget: new BodyBudget(settings.maxBufferedBodyBytes), observe: metrics.observe,
  });
  const api = getRequestListener(createManagementApi(context).fetch);
  const inFlight = new Set<ServerResponse>();
  let drained: (() => void) | undefined;
  let connections: ReturnType<typeof capConnections> | undefined;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (connections?.over(req, res)) return;
    inFlight.add(res);
    res.once('close', () => { inFlight.delete(res); if (inFlight.size === 0) drained?.(); });
    if (req.url?.startsWith('/flex/')) dataPlane(req, res);
    else void api(req, res);
  };
  // Node enforces headersTimeout only when it sweeps its connections, every
  // connectionsCheckingInterval (30 s by default): a slowloris socket would outlive a 20 s
  // header timeout by up to 30 s more (RELIABILITY.md L4).
  const connectionsCheckingInterval = settings.headersTimeoutMs > 0
    ? Math.max(1, Math.min(HEADERS_SWEEP_MAX_INTERVAL_MS, Math.floor(settings.headersTimeoutMs / 2)))
    : HEADERS_SWEEP_MAX_INTERVAL_MS;
  const server: Server = tlsCert && tlsKey
    ? createHttpsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey), connectionsCheckingInterval }, listener)
    : createHttpServer({ connectionsCheckingInterval }, listener);
  server.headersTimeout = settings.headersTimeoutMs;
  // Headers and body within bodyTimeoutMs, or 408 and the connection closed (issue 9, finding 3).
  server.requestTimeout = settings.bodyTimeoutMs > 0 ? Math.max(settings.bodyTimeoutMs, settings.headersTimeoutMs) : 0;
  connections = capConnections(server, settings.maxConnections);
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.host, () => resolveListen());
    });
  } catch (err) {
    // Nothing may stay behind: the replicas, the database, and the data dir's lock.
    await cluster.close();
    await supervisor.close();
    deployer.releaseBuilds();
    await logs.close();
    await store.close();
    await uidRange.release();
    await releaseDataDir();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  const url = `${tlsCert ? 'https' : 'http'}://${host}:${port}`;
  log.info({
    version: FLEXD_VERSION, url, dataDir,
    isolation: runsAsRoot() ? 'root: builds and replicas run under unprivileged accounts' : 'not root: replicas run as this user',
    environmentsRestored: environments.filter((e) => supervisor.pool(e.id)).length,
  }, 'flexd started');

  const releaseSweep = sweepReleasesEvery(context);

  let closing: Promise<void> | undefined;
  const watches: OpenWatches = new Set();
  const calls = embeddingCalls(context, () => closing !== undefined, watches);
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopping = Date.now();
      releaseSweep.stop();
      await Promise.all([...watches].map((w) => w.close()));
      log.info({ inFlight: inFlight.size }, 'flexd stopping: draining requests, stopping replicas');
      server.close();
      server.closeIdleConnections?.();
      if (inFlight.size > 0) {
        await new Promise<void>((r) => {
          drained = r;
          setTimeout(r, settings.stopGraceMs).unref();
        });
      }
      // Still running at the end of the grace: an answer, not an empty reply (issue 9, finding 9).
      for (const res of inFlight) answerShuttingDown(res);
      server.closeAllConnections?.();
      // On PostgreSQL the jobs this node still holds are given up, for another node to retake at
      // once: their runs here are aborted (an npm install is ended), so they are not waited for below.
      if ((await deployer.jobs.release()).length > 0) await store.jobs.hint().catch(() => {});
      await supervisor.close();
      // A deploy this node still owns (SQLite) fails at its activation now that the supervisor is
      // closed: let it record that before the database closes (bounded: an npm install may still be running).
      await Promise.race([deployer.jobs.idle(), new Promise((r) => setTimeout(r, settings.stopGraceMs).unref())]);
      deployer.releaseBuilds();
      await logs.close();
      await cluster.close();
      await store.close();
      await uidRange.release();
      await releaseDataDir();
      log.info({ durationMs: Date.now() - stopping }, 'flexd stopped');
    })();
    return closing;
  };
  return {
    url,
    port,
    context,
    ...(admin.generatedPassword ? { generatedAdmin: { email: admin.email!, password: admin.generatedPassword } } : {}),
    ...calls,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** flexd's own version, from its package.json (read once). */
const FLEXD_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** 503 ServiceUnavailable for a request the stop grace did not let finish; its late answer is dropped. */
function answerShuttingDown(res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) return;
  const text = JSON.stringify({ error: 'ServiceUnavailable', description: 'flexd is shutting down; the request did not finish within the stop grace.', debug: '' });
  res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Retry-After': '1', Connection: 'close' });
  res.end(text);
}

/** Longest pause between two sweeps of unused Node releases, and before the first. */
const RELEASE_SWEEP_MAX_INTERVAL_MS = 60 * 60_000;
const RELEASE_SWEEP_FIRST_MS = 60_000;

/**
 * Removes Node releases nothing used for `unusedRuntimeGraceMs` (runtimes/sweep.ts), checked every
 * quarter of the grace (at most hourly). Kept: the newest release of each major this flexd's
 * environments run, those its pools run on, and any a process on the host runs.
 */
function sweepReleasesEvery(ctx: RuntimeContext): { stop(): void } {
  const graceMs = ctx.settings.unusedRuntimeGraceMs;
  if (graceMs <= 0) return { stop: () => {} };
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const removed = await ctx.runtimes.sweepUnused({
        graceMs,
        // Each environment's runtime, and the one a job under way moves it to (recorded only once it serves).
        majors: async () => (await Promise.all((await ctx.store.services.listEnvironments()).map(async (env) => {
          const moving = (await ctx.store.jobs.running(env.id))?.params.runtime;
          return [env.runtime, typeof moving === 'string' ? moving : undefined].flatMap((runtime) => {
            try {
              const major = ctx.runtimes.majorFor(ctx.runtimes.nameFor(runtime));
              return major === undefined ? [] : [major];
            } catch {
              return []; // a name this flexd no longer knows
            }
          });
        }))).flat(),
        running: () => ctx.supervisor.pools().flatMap(({ pool }) => (pool.node ? [pool.node.nodePath] : [])),
      });
      if (removed.length > 0) ctx.log.info({ versions: removed, graceMs }, 'removed unused Node releases');
    } catch (err) {
      ctx.log.warn({ error: (err as Error).message }, 'could not remove unused Node releases');
    } finally {
      sweeping = false;
    }
  };
  const intervalMs = Math.max(250, Math.min(RELEASE_SWEEP_MAX_INTERVAL_MS, Math.floor(graceMs / 4)));
  // The first soon after the start (a flexd restarted often still sweeps), then every interval.
  const timers: { current?: NodeJS.Timeout } = {};
  timers.current = setTimeout(() => {
    void sweep();
    timers.current = setInterval(() => void sweep(), intervalMs);
    timers.current.unref();
  }, Math.min(intervalMs, RELEASE_SWEEP_FIRST_MS));
  timers.current.unref();
  return { stop: () => clearTimeout(timers.current) };
}
