import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { EnvironmentDirectory } from '../dataplane/directory.ts';
import type { EventBus } from '../events/bus.ts';
import { environmentNames } from '../events/names.ts';
import type { Store } from '../store/index.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { RequestStats, requestMetrics } from './requests.ts';
import { residentBytes as residentOf } from '../procfs.ts';

/** The gauges of one scrape read the pools once: a scrape takes a few milliseconds. */
const SCRAPE_SHARE_MS = 250;
/** Requests per second for the status page are averaged over at least this long. */
const RATE_WINDOW_MS = 2_000;

/** What the status page shows of an environment's traffic since flexd started. */
export interface TrafficSnapshot { requests: number; errors: number; requestsPerSecond: number; restarts: number }

/** One environment's request figures, found by its id with one map lookup per request. */
interface Entry {
  stats: RequestStats;
  /** replicas that ended unasked (crash, memory, liveness), for the status page */
  restarts: number;
  sample: { at: number; requests: number };
  rate: number;
}

export interface MetricsDeps {
  store: Store;
  directory: EnvironmentDirectory;
  supervisor: Supervisor;
  events: EventBus;
  /** a token Prometheus may scrape with besides a session (`--metrics-token`) */
  scrapeToken?: string;
  /** an environment's status (NEW, UPDATING, ONLINE, ERROR), as the status API computes it */
  status: (environmentId: string) => Promise<string>;
  /** flexd's own version, for flexd_build_info */
  version?: string;
}

/**
 * flexd's Prometheus metrics (`GET /metrics`, route.ts), one registry per runtime. Request
 * figures come from the data plane (`observe`, on the hot path: one map lookup, a 'finish'
 * listener and a few additions; requests.ts), deploys and restarts from events, and gauges are
 * read from the pools when scraped.
 * Labels are names, not ids.
 */
export class Metrics {
  readonly registry = new Registry();
  /** counters count from here */
  readonly startedAt = new Date().toISOString();
  private readonly entries = new Map<string, Entry>();

  get scrapeToken(): string | undefined {
    return this.deps.scrapeToken || undefined;
  }

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    for (const metric of requestMetrics(() => [...this.entries.values()].map((e) => e.stats))) this.registry.registerMetric(metric);
    const deploys = new Counter({ name: 'flexd_deploys_total', help: 'Deploys finished, by result (success or failure)', labelNames: ['service', 'environment', 'result'], registers });
    const restarts = new Counter({ name: 'flexd_replica_restarts_total', help: 'Replicas that ended without the runtime asking, by reason (crash, memory, liveness)', labelNames: ['service', 'environment', 'reason'], registers });
    const pools = this.pools.bind(this);
    new Gauge({ name: 'flexd_replicas', help: 'Replicas alive, by state (starting, ready, stopping)', labelNames: ['service', 'environment', 'state'], registers,
      async collect() {
        this.reset();
        for (const p of await pools()) {
          for (const state of ['starting', 'ready']) this.set({ ...p.labels, state }, 0);
          for (const r of p.replicas) this.inc({ ...p.labels, state: r.state });
        }
      } });
    new Gauge({ name: 'flexd_replica_memory_bytes', help: 'Resident memory of the environment\'s replicas, summed', labelNames: ['service', 'environment'], registers,
      async collect() {
        this.reset();
        for (const p of await pools()) this.set(p.labels, p.memoryBytes);
      } });
    new Gauge({ name: 'flexd_queue_depth', help: 'Requests waiting for a free replica', labelNames: ['service', 'environment'], registers,
      async collect() {
        this.reset();
        for (const p of await pools()) this.set(p.labels, p.queued);
      } });
    new Gauge({ name: 'flexd_log_ring_bytes', help: 'Bytes held in the environment\'s log ring', labelNames: ['service', 'environment'], registers,
      async collect() {
        this.reset();
        for (const env of await deps.store.services.listEnvironments()) this.set({ ...environmentNames(deps.directory, env.id) }, deps.store.logs.bytes(env.id));
      } });

    new Gauge({ name: 'flexd_environment_status', help: 'An environment\'s status as `flexd status` says it (NEW, UPDATING, ONLINE, ERROR): 1 for the current one', labelNames: ['service', 'environment', 'status'], registers,
      async collect() {
        this.reset();
        for (const env of await deps.store.services.listEnvironments()) {
          const names = environmentNames(deps.directory, env.id);
          const current = await deps.status(env.id);
          for (const status of ['NEW', 'UPDATING', 'ONLINE', 'ERROR']) this.set({ ...names, status }, status === current ? 1 : 0);
        }
      } });
    new Gauge({ name: 'flexd_build_info', help: 'flexd\'s version, as a label; always 1', labelNames: ['version'], registers })
      .set({ version: deps.version ?? 'unknown' }, 1);

    deps.events.on((e) => {
      if (e.type === 'deploy-finished' || e.type === 'deploy-failed') {
        deploys.inc({ ...environmentNames(deps.directory, e.environmentId), result: e.type === 'deploy-finished' ? 'success' : 'failure' });
      } else if (e.type === 'replica-exit' && (e.reason === 'crash' || e.reason === 'memory' || e.reason === 'liveness')) {
        restarts.inc({ ...environmentNames(deps.directory, e.environmentId), reason: e.reason });
        (this.entries.get(e.environmentId) ?? this.entry(e.environmentId)).restarts++;
      } else if (e.type === 'swap') {
        // A swap follows any rename (the environment's name is in NODE_ENV): look the names up again.
        const entry = this.entries.get(e.environmentId);
        if (entry) Object.assign(entry.stats, environmentNames(deps.directory, e.environmentId));
      }
    });
  }

  /**
   * The data plane's hook, called once the request's environment is known: counts the answer by
   * status code and times it when the response is finished.
   */
  readonly observe = (environmentId: string, res: ServerResponse): void => {
    const started = performance.now();
    const { stats } = this.entries.get(environmentId) ?? this.entry(environmentId);
    res.once('finish', () => stats.record(res.statusCode, (performance.now() - started) / 1000));
  };

  /** Requests, server errors (5xx) and requests per second of an environment, for the status page. */
  traffic(environmentId: string, now = Date.now()): TrafficSnapshot {
    const e = this.entries.get(environmentId);
    if (!e) return { requests: 0, errors: 0, requestsPerSecond: 0, restarts: 0 };
    const { count, errors } = e.stats;
    if (now - e.sample.at >= RATE_WINDOW_MS) {
      e.rate = ((count - e.sample.requests) * 1000) / (now - e.sample.at);
      e.sample = { at: now, requests: count };
    }
    return { requests: count, errors, requestsPerSecond: Math.round(e.rate * 10) / 10, restarts: e.restarts };
  }

  /** The exposition text, e.g. for `GET /metrics`. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  private entry(environmentId: string): Entry {
    const { service, environment } = environmentNames(this.deps.directory, environmentId);
    const entry: Entry = { stats: new RequestStats(service, environment), restarts: 0, sample: { at: Date.now(), requests: 0 }, rate: 0 };
    this.entries.set(environmentId, entry);
    return entry;
  }

  private scraped: { at: number; pools: ReturnType<Metrics['readPools']> } | undefined;

  /** Every environment with a pool: its labels, replicas, memory and queue; read once per scrape (the gauges share it). */
  private pools(): ReturnType<Metrics['readPools']> {
    const now = Date.now();
    if (!this.scraped || now - this.scraped.at > SCRAPE_SHARE_MS) this.scraped = { at: now, pools: this.readPools() };
    return this.scraped.pools;
  }

  private async readPools() {
    const { store, supervisor, directory } = this.deps;
    const out = [];
    for (const env of await store.services.listEnvironments()) {
      const pool = supervisor.pool(env.id);
      if (!pool) continue;
      const replicas = pool.describe();
      const rss = await Promise.all(replicas.map((r) => residentBytes(r.pid)));
      out.push({ labels: environmentNames(directory, env.id), replicas, queued: pool.queued, memoryBytes: rss.reduce((a, b) => a + b, 0) });
    }
    return out;
  }
}

/** A process's resident memory from /proc (0 when it is gone or unknown). */
export async function residentBytes(pid: number | undefined): Promise<number> {
  return pid === undefined ? 0 : (await residentOf(pid)) ?? 0;
}
