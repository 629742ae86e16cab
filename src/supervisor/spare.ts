import type { Settings } from '../config.ts';
import type { Generation, PoolHooks } from './pool.ts';
import type { Replica } from './replica.ts';

/** Spares that may exit in a row before none is made until the next activation (a launcher that cannot work here). */
const SPARE_FAILURES_MAX = 5;

export type SpareState = { state: 'off' | 'none' | 'booting' | 'booted'; pid?: number };

/**
 * An environment's spare (`spareReplica`): a replica of the serving generation spawned ahead of
 * need, Node and flexd's child runtime booted, the project not run. Spawned by the same hook as
 * any replica, it is the same process as one started on demand (account, mount view, permission
 * flags, heap cap, environment, argv); only when its project runs differs. The pool decides when
 * there is a free slot for one (pool.ts); this keeps the one spare, replaces one that dies after
 * a doubling pause, and hands it out.
 */
export class SpareSlot {
  private current: { replica: Replica; shape: string } | undefined;
  /** Spares in a row that exited before they were taken; past SPARE_FAILURES_MAX no more are made until resetFailures(). */
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly booted = new WeakSet<Replica>();

  /** `settings`: the pool's settings now (the pause after a loss follows its restart backoff). */
  constructor(private readonly hooks: Pick<PoolHooks, 'spawn' | 'note'>, private readonly settings: () => Settings) {}

  /** The spare process, booting or booted; undefined when there is none. */
  get replica(): Replica | undefined {
    return this.current?.replica;
  }

  /** For status and tests: `off` when spares are off, `none` when there is no spare now. */
  state(enabled: boolean): SpareState {
    if (!enabled) return { state: 'off' };
    const spare = this.current?.replica;
    if (!spare) return { state: 'none' };
    return { state: this.booted.has(spare) ? 'booted' : 'booting', pid: spare.pid };
  }

  /** Whether the spare was spawned from something else than a replica of `gen` would be now. */
  differsFrom(gen: Generation, settings: Settings): boolean {
    return this.current !== undefined && this.current.shape !== spareShape(gen, settings);
  }

  /**
   * Spawns a spare of `gen` unless there is one or too many were lost in a row. `refill` is the
   * pool's own check for a free slot, called again after a spare is lost.
   */
  fill(gen: Generation, settings: Settings, refill: () => void): void {
    if (this.current || this.failures >= SPARE_FAILURES_MAX) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const replica = this.hooks.spawn(gen, settings, { spare: true });
    const spare = { replica, shape: spareShape(gen, settings) };
    this.current = spare;
    replica.booted.then(() => this.booted.add(replica), () => {});
    void replica.exited.then((reason) => {
      if (this.current !== spare) return; // taken (its exit is a replica's) or dropped
      this.current = undefined;
      this.failures++;
      this.hooks.note(replica.containerId, `spare replica ${reason}`, 'warn');
      // Replaced after a pause that doubles with each loss, never in a tight loop.
      const { restartBackoffBaseMs, restartBackoffMaxMs } = this.settings();
      const delay = Math.min(restartBackoffMaxMs, restartBackoffBaseMs * 2 ** (this.failures - 1));
      clearTimeout(this.timer);
      this.timer = setTimeout(refill, delay);
      this.timer.unref();
    });
  }

  /** Hands the spare out as a replica of `gen` (it runs its project now), if it is one. */
  take(gen: Generation, settings: Settings): Replica | undefined {
    const spare = this.current;
    if (!spare || spare.shape !== spareShape(gen, settings) || spare.replica.state === 'exited') return undefined;
    this.current = undefined;
    this.failures = 0;
    spare.replica.start();
    return spare.replica;
  }

  /** Stops the spare (a new generation, new settings, suspension, close). */
  drop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const spare = this.current;
    this.current = undefined;
    if (!spare) return Promise.resolve();
    spare.replica.retiring = true;
    return spare.replica.stop(0);
  }

  /** A new activation: spares may be tried again however many were lost. */
  resetFailures(): void {
    this.failures = 0;
  }
}

/**
 * What a replica is spawned from (the supervisor's spawn): the generation's files, variables and
 * Node, and the settings it reads. A spare made from anything else is not taken: a recycle with
 * the same variables takes it, a new version or changed variables do not.
 */
function spareShape(g: Generation, s: Settings): string {
  return JSON.stringify([g.versionId, g.version, g.projectDir, g.tree ?? null, g.nativeAddons === true, g.inPlace === true, g.env, g.node.nodePath, g.node.major,
    s.memoryLimitMb, s.readyTimeoutMs, s.startupTailLines, s.strictUnhandledRejections, s.permissionModel]);
}
