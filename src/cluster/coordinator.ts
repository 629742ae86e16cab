import type { Logger } from '../logger.ts';
import type { Store } from '../store/index.ts';
import type { SqlClient } from '../store/sql.ts';
import type { Deployer } from '../deploy/pipeline.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { CHANGES_CHANNEL, ChangeListener, type Change } from './changes.ts';
import type { Membership, ServingReport } from './membership.ts';

/** Services and environments changed without touching what replicas run (a rename, a secret): caches re-read. */
const DIRECTORY_ONLY = '';

/**
 * What makes several nodes one flexd (docs/scale-out.md): each node runs every environment that
 * has an active version; a change to what replicas run — the active version, variables, settings,
 * a recycle, a suspension, a delete — is made and start-checked by one node, recorded with a
 * bumped generation, and announced (NOTIFY, ids only). Every other node re-reads the rows and
 * converges with the same rolling, loss-free swap. A node compares generations, so a duplicate or
 * late notification is harmless, and after its listening connection comes back it re-reads
 * everything: a missed notification is never a lost change.
 */
export class Coordinator {
  /** the generation of each environment as this node runs it */
  private readonly generations = new Map<string, number>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly listener: ChangeListener;
  private directoryNotice: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: {
    url: string; db: SqlClient; store: Store; supervisor: Supervisor; deployer: Deployer; membership: Membership; log: Logger;
  }) {
    this.listener = new ChangeListener(deps.url, {
      change: (c) => this.heard(c), resync: () => this.resync(), log: deps.log, jobs: () => deps.deployer.jobs.wake(),
    });
    deps.store.services.onChange((local) => { if (local) this.noticeDirectoryChange(); });
  }

  /**
   * Reads each environment's generation. Called before the start's restore: whatever changes
   * between this read and the listening connection (the restore takes seconds) is announced to
   * nobody here, so `start` compares against these and catches up.
   */
  async snapshot(): Promise<void> {
    for (const row of await this.rows()) this.generations.set(row.id, row.generation);
  }

  /**
   * Listens; once listening, every environment whose generation moved since `snapshot` (or that
   * the restore could not start) converges — the same re-read as after a reconnection.
   */
  async start(): Promise<void> {
    for (const [id] of this.generations) if (!this.deps.supervisor.pool(id)) this.generations.delete(id);
    await this.listener.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.directoryNotice);
    await this.listener.close();
    await Promise.all([...this.chains.values()]);
  }

  /**
   * After this node changed what an environment runs (and swapped to it itself): bump the
   * generation and tell the other nodes, in one transaction — NOTIFY is delivered at commit.
   */
  async announce(environmentId: string): Promise<void> {
    const generation = await this.deps.db.transaction(async (tx) => {
      const row = await tx.get<{ generation: number }>('UPDATE environments SET generation = generation + 1 WHERE id = ? RETURNING generation', [environmentId]);
      const g = row?.generation ?? -1;
      await tx.get('SELECT pg_notify(?, ?)', [CHANGES_CHANNEL, JSON.stringify({ environmentId, generation: g, node: this.deps.membership.name } satisfies Change)]);
      return g;
    });
    if (generation >= 0) this.generations.set(environmentId, generation);
    else this.generations.delete(environmentId);
    void this.deps.membership.beat();
  }

  /**
   * Serves what the database says for one environment again, whatever generation this node
   * thinks it runs: after a job's run here lost its lease mid-swap (another node retook the job),
   * this node's replicas may run a version the database never recorded.
   */
  follow(environmentId: string): void {
    this.generations.delete(environmentId);
    this.converge(environmentId, true);
  }

  /** What this node serves, for its heartbeat and the status's `nodes`. */
  serving(): ServingReport[] {
    const out: ServingReport[] = [];
    for (const { environmentId, pool } of this.deps.supervisor.pools()) {
      const generation = this.generations.get(environmentId);
      out.push({
        environmentId, version: pool.version ?? null, replicas: pool.replicaCount, status: pool.suspension !== null ? 'SUSPENDED' : pool.version === undefined ? 'STARTING' : 'ONLINE',
        ...(generation !== undefined ? { generation } : {}),
      });
    }
    return out;
  }

  /** The generation of the environment this node runs (undefined: none applied yet). */
  runningGeneration(environmentId: string): number | undefined {
    return this.generations.get(environmentId);
  }

  /** The environment's generation as the database records it (undefined: deleted). */
  async recordedGeneration(environmentId: string): Promise<number | undefined> {
    return (await this.deps.db.get<{ generation: number }>('SELECT generation FROM environments WHERE id = ?', [environmentId]))?.generation;
  }

  private heard(c: Change): void {
    this.deps.store.services.invalidate();
    if (c.node === this.deps.membership.name || c.environmentId === DIRECTORY_ONLY) return;
    const known = this.generations.get(c.environmentId);
    if (c.generation >= 0 && known !== undefined && known >= c.generation) return;
    this.converge(c.environmentId);
  }

  /** After (re)connecting: everything announced meanwhile may be lost, so compare every environment. */
  private resync(): void {
    this.deps.store.services.invalidate();
    void this.rows().then((rows) => {
      const seen = new Set<string>();
      for (const row of rows) {
        seen.add(row.id);
        if (this.generations.get(row.id) !== row.generation) this.converge(row.id);
      }
      for (const { environmentId } of this.deps.supervisor.pools()) if (!seen.has(environmentId)) this.converge(environmentId);
    }, (err: Error) => this.deps.log.warn({ error: err.message }, 'could not re-read the environments after reconnecting'));
  }

  /** Brings one environment to what the database says, one change at a time per environment. */
  private converge(environmentId: string, followDatabase = false): void {
    const previous = this.chains.get(environmentId) ?? Promise.resolve();
    const next = previous.then(() => this.apply(environmentId, followDatabase)).catch((err: Error) => {
      this.deps.log.error({ environmentId, error: err.message }, 'could not apply a change another node made');
    });
    this.chains.set(environmentId, next);
    void next.finally(() => { if (this.chains.get(environmentId) === next) this.chains.delete(environmentId); });
  }

  private async apply(environmentId: string, followDatabase = false): Promise<void> {
    if (this.closed) return;
    const { store, supervisor } = this.deps;
    const row = await this.deps.db.get<{ generation: number }>('SELECT generation FROM environments WHERE id = ?', [environmentId]);
    const env = await store.services.getEnvironment(environmentId);
    if (!row || !env) {
      this.generations.delete(environmentId);
      await supervisor.remove(environmentId);
      return;
    }
    if (this.generations.get(environmentId) === row.generation) return;
    const pool = supervisor.pool(environmentId);
    if (env.activeVersionId === null) {
      // Nothing recorded as active: a pool here runs only what a run that lost its job started.
      if (followDatabase) await supervisor.remove(environmentId);
      this.generations.set(environmentId, row.generation);
      return;
    }
    if (env.suspendedReason !== null && pool?.version !== undefined && pool.versionId === env.activeVersionId) {
      pool.adoptSuspension(env.suspendedReason);
    } else {
      const version = await store.versions.get(env.activeVersionId);
      if (!version) return;
      await this.deps.deployer.serveStored(env, version);
    }
    this.generations.set(environmentId, row.generation);
    void this.deps.membership.beat();
  }

  /** A rename or a new secret: the other nodes' directories re-read (batched: one notice per burst). */
  private noticeDirectoryChange(): void {
    if (this.directoryNotice || this.closed) return;
    this.directoryNotice = setTimeout(() => {
      this.directoryNotice = undefined;
      this.deps.db.get('SELECT pg_notify(?, ?)', [CHANGES_CHANNEL, JSON.stringify({ environmentId: DIRECTORY_ONLY, generation: -1, node: this.deps.membership.name } satisfies Change)])
        .catch(() => { /* away: the others re-read everything when they reconnect */ });
    }, 0);
  }

  private rows(): Promise<{ id: string; generation: number }[]> {
    return this.deps.db.all('SELECT id, generation FROM environments');
  }
}
