import type { Settings } from '../config.ts';
import { FlexdError } from '../errors.ts';
import { exitReason, type PoolEvent } from '../events/bus.ts';
import { CrashBudget } from './crash-budget.ts';
import { notDeployed, shuttingDown } from './errors.ts';
import type { ReceiverInfo } from '../child/protocol.ts';
import { Replica, StartError, type Outcome } from './replica.ts';
import type { NodeRuntime } from '../runtimes/catalog.ts';
import { SpareSlot, type SpareState } from './spare.ts';

/** What a pool runs: one version with one set of environment variables. Replacing it is a swap. */
export interface Generation {
  versionId: string;
  version: string;
  /** the version's own files (replica-folder.ts: each replica's project folder is its private view of them) */
  projectDir: string;
  /** the folder holding the version's dependency tree (`node_modules`), or null/absent (none, or in place) */
  tree?: string | null;
  /** the artifact holds compiled addons (npm built them): the permission model lets it load them */
  nativeAddons?: boolean;
  env: Record<string, string>;
  /** the Node its replicas run on (src/runtimes) */
  node: NodeRuntime;
  /** the developer's folder itself (flexd dev): run there, as flexd's user, without the permission model */
  inPlace?: boolean;
}

export interface PoolHooks {
  /**
   * Spawns a replica of `generation` (the supervisor knows paths, users and log capture); with
   * `spare`, one that boots and waits for `start()` (Replica).
   */
  spawn(generation: Generation, settings: Settings, options?: { spare?: boolean }): Replica;
  /** A runtime line about this pool for its log (supervision events). */
  note(containerId: string, message: string, threshold?: string | null): void;
  /** The pool suspended itself after its crash budget, or came back (reason null). */
  suspended(reason: string | null): void;
  /** What happened, for flexd's server log and metrics (src/events). */
  event?(e: PoolEvent): void;
}

export type DispatchResult =
  | { kind: 'result'; task: Record<string, unknown>; version: string; containerId: string }
  | { kind: 'failed'; error: { name: string; message: string; stack: string }; version: string; containerId: string };

interface Waiter { resolve: (r: Replica) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

/**
 * The replicas of one service environment and the routing of its tasks: picks the least
 * busy ready replica, queues (bounded) when all are busy, cold-starts after idling, swaps
 * generations without dropping requests, replaces crashed replicas with backoff and suspends
 * after the crash budget, and watches memory and liveness.
 */
export class Pool {
  private generation: Generation | undefined;
  private replicas: Replica[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly crashes: CrashBudget;
  private suspendedReason: string | null = null;
  private lastRequestAt = Date.now();
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private livenessDue = 0;
  private closed = false;
  /** What the serving generation's first replica reported about its SDK's receiver. */
  private receiverInfo: ReceiverInfo | undefined;
  /** Replicas out of the router, draining before they stop (a swap, idle eviction, scale-down). */
  private readonly retiring = new Set<Replica>();
  /** The new generation's replicas while a swap waits for them to be ready: close() stops them too. */
  private readonly activating = new Set<Replica>();
  /** One replica of the serving generation booted ahead of need, in a free slot (spare.ts; `spareReplica`). */
  private readonly spare: SpareSlot;

  constructor(private settings: Settings, private readonly hooks: PoolHooks) {
    this.crashes = new CrashBudget({ budget: settings.crashBudget, windowMs: settings.crashWindowMs,
      baseMs: settings.restartBackoffBaseMs, maxMs: settings.restartBackoffMaxMs, resetMs: settings.restartBackoffResetMs });
    this.ticker = setInterval(() => void this.tick(), settings.memoryCheckIntervalMs);
    this.ticker.unref();
    this.spare = new SpareSlot(hooks, () => this.settings);
  }

  get version(): string | undefined {
    return this.generation?.version;
  }

  /** The stored version the pool runs (its artifact must stay unpacked). */
  get versionId(): string | undefined {
    return this.generation?.versionId;
  }

  /** The Node the serving generation runs on. */
  get node(): NodeRuntime | undefined {
    return this.generation?.node;
  }

  /**
   * The receiver the serving version's SDK would have used under `node .` (installed task
   * runner version, body limit), known once its first replica was ready; undefined before.
   */
  get receiver(): ReceiverInfo | undefined {
    return this.receiverInfo;
  }

  get suspension(): string | null {
    return this.suspendedReason;
  }

  /** Requests waiting for a free replica slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Replicas alive now (starting or ready). */
  get replicaCount(): number {
    return this.replicas.length;
  }

  describe(): { containerId: string; version: string; state: string; inFlight: number; pid: number | undefined }[] {
    return this.replicas.map((r) => ({ containerId: r.containerId, version: r.version, state: r.state, inFlight: r.inFlight, pid: r.pid }));
  }

  /** What a 503 of this environment tells the client to wait, in seconds. */
  get retryAfterSeconds(): number {
    return this.settings.retryAfterSeconds;
  }

  updateSettings(settings: Settings): void {
    this.settings = settings;
    // A spare spawned with other limits is not what a replica would be now; one past a lowered maxReplicas holds no free slot.
    if (this.spare.replica && (!settings.spareReplica || this.replicas.length >= Math.max(1, settings.maxReplicas)
      || (this.generation && this.spare.differsFrom(this.generation, settings)))) void this.spare.drop();
  }

  /** The spare's state and pid, for status and tests: `off` when spares are off (spareReplica), `none` when there is no free slot or none yet. */
  get spareState(): SpareState {
    return this.spare.state(this.settings.spareReplica);
  }

  /**
   * Spawns a spare when the environment has a free slot and none is there: after an activation,
   * idle eviction, a scale-down, a replica's exit, or a spare taken or lost.
   */
  private refillSpare(): void {
    const gen = this.generation;
    if (!this.settings.spareReplica || !gen || this.closed || this.suspendedReason !== null) return;
    if (this.replicas.length >= Math.max(1, this.settings.maxReplicas)) return;
    this.spare.fill(gen, this.settings, () => this.refillSpare());
  }

  /**
   * Rolling swap: start the new generation's replicas and wait until each reports ready, then
   * switch traffic at once, then drain and stop the old ones. If the new ones cannot start, they
   * are stopped and the old generation keeps serving untouched; the StartError says why.
   */
  async activate(next: Generation): Promise<void> {
    if (this.closed) throw shuttingDown();
    const count = Math.max(1, this.settings.minReplicas, Math.min(this.replicas.length, this.settings.maxReplicas));
    // A recycle takes the spare of its own generation; any other spare is of the old one.
    const spare = this.spare.take(next, this.settings);
    void this.spare.drop();
    this.spare.resetFailures();
    const fresh = Array.from({ length: count }, (_, i) => (i === 0 && spare) || this.hooks.spawn(next, this.settings));
    for (const r of fresh) this.activating.add(r);
    try {
      await Promise.all(fresh.map((r) => r.ready));
    } catch (err) {
      await Promise.all(fresh.map((r) => r.stop(0)));
      if (this.closed) throw shuttingDown();
      this.refillSpare();
      throw err;
    } finally {
      for (const r of fresh) this.activating.delete(r);
    }
    if (this.closed) {
      await Promise.all(fresh.map((r) => r.stop(0)));
      throw shuttingDown();
    }
    // With several new replicas, one may have exited between its own ready and the last one's.
    const alive = fresh.filter((r) => r.state !== 'exited');
    if (alive.length === 0) throw new StartError('the new replicas exited right after they reported ready', fresh[0]!.outputTail());
    const old = this.replicas;
    this.hooks.event?.({ type: 'swap', from: this.generation?.version, to: next.version, replicas: alive.length });
    this.generation = next;
    this.receiverInfo = alive[0]!.receiver;
    this.replicas = alive;
    for (const r of alive) this.watch(r);
    this.crashes.reset();
    if (this.suspendedReason !== null) {
      this.suspendedReason = null;
      this.hooks.suspended(null);
    }
    clearTimeout(this.restartTimer);
    this.lastRequestAt = Date.now();
    this.pump();
    for (let i = alive.length; i < fresh.length; i++) void this.startReplacement();
    await Promise.all(old.map((r) => this.retire(r)));
    this.refillSpare();
  }

  /** Restart every replica as one swap (recycle, or after the crash budget: the way back from suspension). */
  async recycle(): Promise<void> {
    if (!this.generation) throw new FlexdError('NotDeployed', 'This environment has no deployed version to recycle.', { status: 409 });
    await this.activate(this.generation);
  }

  /** Routes one task: waits for a replica (bounded), sends it, and races the request timeout. */
  async dispatch(task: Record<string, unknown>, timeoutMs = this.settings.requestTimeoutMs): Promise<DispatchResult> {
    this.lastRequestAt = Date.now();
    const deadline = Date.now() + timeoutMs;
    const replica = await this.acquire(timeoutMs);
    replica.reserved--;
    const { id, outcome } = replica.dispatch(task);
    // The outcome or the deadline, whichever comes first (one promise: this runs for every request).
    let timer: NodeJS.Timeout | undefined;
    let settled: Outcome | 'timeout';
    try {
      settled = await new Promise<Outcome | 'timeout'>((resolve, reject) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), 'timeout');
        outcome.then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
    }
    this.lastRequestAt = Date.now();
    this.pump();
    if (settled === 'timeout') {
      replica.abandon(id);
      this.pump();
      void this.checkAfterTimeout(replica);
      throw new FlexdError('RequestTimeout', `The Flex service did not complete the request within ${timeoutMs} ms.`,
        { status: 504, debug: 'The handler may still be running; its late result will be dropped.' });
    }
    if (settled.kind === 'unsendable') {
      // The request's own fault (a 200,000-deep body, a task over the frame size): answered for
      // it alone; the replica never saw it, so nothing crashed.
      throw settled.tooLarge
        ? new FlexdError('RequestEntityTooLarge', 'The request is too large to pass to the Flex service.', { status: 413, debug: settled.reason })
        : new FlexdError('BadRequest', 'The request cannot be passed to the Flex service (its JSON is nested too deeply).', { status: 400, debug: settled.reason });
    }
    if (settled.kind === 'died') {
      const what = settled.outOfMemory ? 'ran out of memory' : 'ended';
      throw new FlexdError('ReplicaDied', `The Flex service process ${what} while handling the request.`, { status: 502, debug: settled.reason });
    }
    return settled.kind === 'result'
      ? { kind: 'result', task: settled.task, version: replica.version, containerId: replica.containerId }
      : { kind: 'failed', error: settled.error, version: replica.version, containerId: replica.containerId };
  }

  /** Stops every replica (shutdown or deletion). Waiting requests get an error. */
  async close(graceMs = this.settings.stopGraceMs): Promise<void> {
    this.closed = true;
    clearInterval(this.ticker);
    clearTimeout(this.restartTimer);
    this.rejectWaiters(shuttingDown());
    // A swap still waiting for its new replicas fails (shutting down) once they are stopped.
    const all = [...this.replicas, ...this.retiring, ...this.activating];
    this.replicas = [];
    await Promise.all([this.spare.drop(), ...all.map((r) => r.stop(graceMs))]);
  }

  /** Waits until a ready replica has a free slot; starts one when there is none (cold start, or lost replicas). */
  private acquire(timeoutMs: number): Promise<Replica> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (this.suspendedReason !== null) {
      return Promise.reject(new FlexdError('ServiceSuspended', `The environment is suspended: ${this.suspendedReason}. Deploy or recycle to restart it.`,
        { status: 503, retryAfterSeconds: this.settings.retryAfterSeconds }));
    }
    if (!this.generation) {
      return Promise.reject(notDeployed());
    }
    const free = this.pickReady();
    if (free) {
      free.reserved++;
      this.maybeScaleUp();
      return Promise.resolve(free);
    }
    if (this.waiters.length >= this.settings.maxQueue) {
      return Promise.reject(new FlexdError('Overloaded', 'Too many requests are waiting for this environment; try again shortly.',
        { status: 503, retryAfterSeconds: 1 }));
    }
    if (this.replicas.length === 0) void this.coldStart();
    else this.maybeScaleUp();
    return new Promise<Replica>((resolve, reject) => {
      const waiter: Waiter = {
        resolve, reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new FlexdError('RequestTimeout', `No replica of the Flex service could take the request within ${timeoutMs} ms.`, { status: 504 }));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private pickReady(): Replica | undefined {
    let best: Replica | undefined;
    for (const r of this.replicas) {
      const load = r.inFlight + r.reserved;
      if (r.state !== 'ready' || load >= this.settings.maxInFlightPerReplica) continue;
      if (!best || load < best.inFlight + best.reserved) best = r;
    }
    return best;
  }

  /** Hands free slots to waiting requests, oldest first. */
  private pump(): void {
    while (this.waiters.length > 0) {
      const r = this.pickReady();
      if (!r) return;
      const w = this.waiters.shift()!;
      clearTimeout(w.timer);
      // The caller dispatches in a later microtask: reserve the slot now so one pump
      // does not hand the same last slot to every waiter.
      r.reserved++;
      w.resolve(r);
    }
  }

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private async coldStart(): Promise<void> {
    const started = Date.now();
    const spare = this.spareState.state;
    const r = await this.startReplacement();
    const how = spare === 'booted' ? 'from a booted spare' : spare === 'booting' ? 'from a spare still booting' : 'spawned';
    if (r) this.hooks.note(r.containerId, `cold start: replica ready in ${Date.now() - started} ms (${how})`);
  }

  private maybeScaleUp(): void {
    if (this.replicas.length >= this.settings.maxReplicas) return;
    if (this.replicas.some((r) => r.state === 'starting')) return;
    const busy = this.replicas.every((r) => r.inFlight >= this.settings.scaleUpInFlight);
    if (busy) {
      void this.startReplacement().then((r) => {
        if (r) this.hooks.note(r.containerId, `scaled up to ${this.replicas.length} replicas`);
      });
    }
  }

  /** Starts one more replica of the current generation; a start failure counts as a crash. */
  private async startReplacement(): Promise<Replica | undefined> {
    const gen = this.generation;
    if (!gen || this.closed || this.suspendedReason !== null) return undefined;
    const r = this.spare.take(gen, this.settings) ?? this.hooks.spawn(gen, this.settings);
    this.replicas.push(r);
    this.watch(r);
    try {
      await r.ready;
      this.pump();
      this.refillSpare();
      return r;
    } catch (err) {
      const tail = err instanceof StartError && err.tail ? `\n${err.tail}` : '';
      this.hooks.note(r.containerId, `replica failed to start: ${(err as Error).message}${tail}`, 'error');
      this.hooks.event?.({ type: 'replica-start-failed', containerId: r.containerId, detail: (err as Error).message });
      return undefined;
    }
  }

  /** Supervision: an exit the runtime did not ask for is a crash; replace it with backoff or suspend. */
  private watch(r: Replica): void {
    r.on('exit', (reason: string) => {
      const i = this.replicas.indexOf(r);
      if (i >= 0) this.replicas.splice(i, 1);
      if (r.retiring || i < 0 || this.closed) return;
      const delay = this.crashes.record(Date.now());
      const exit = { type: 'replica-exit', containerId: r.containerId, version: r.version, reason: exitReason(r), detail: reason } as const;
      if (delay === null) {
        this.hooks.event?.(exit);
        this.hooks.note(r.containerId, `replica ${r.containerId} ${reason}`, 'error');
        this.suspend(`more than ${this.settings.crashBudget} crashes within ${this.settings.crashWindowMs} ms; last: ${reason}`);
        return;
      }
      // Booting while the backoff runs: the replacement (or the next request) takes it.
      this.refillSpare();
      if (this.replicas.length >= Math.max(1, this.settings.minReplicas) && this.waiters.length === 0) {
        this.hooks.event?.(exit);
        this.hooks.note(r.containerId, `replica ${r.containerId} ${reason}`, 'error');
        return;
      }
      this.hooks.note(r.containerId, `replica ${r.containerId} ${reason}; restarting in ${delay} ms`
        + ` (${this.crashes.recent} of ${this.settings.crashBudget} crashes allowed within ${this.settings.crashWindowMs} ms)`, 'error');
      this.hooks.event?.({ ...exit, restartInMs: delay });
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => {
        if (this.replicas.length < Math.max(1, this.settings.minReplicas) || this.waiters.length > 0) void this.startReplacement();
      }, delay);
    });
    r.on('late', () => this.hooks.note(r.containerId, 'dropped a result that arrived after its request had timed out', 'warn'));
  }

  /**
   * Another node suspended the environment after its crash loop (src/cluster): stop serving here
   * too, without reporting it again. A deploy or recycle (a new generation) brings it back.
   */
  adoptSuspension(reason: string): void {
    if (this.suspendedReason !== null) return;
    this.suspendedReason = reason;
    this.hooks.note('', `environment suspended on another node: ${reason}`, 'error');
    this.rejectWaiters(new FlexdError('ServiceSuspended', `The environment is suspended: ${reason}.`, { status: 503, retryAfterSeconds: this.settings.retryAfterSeconds }));
    for (const r of this.replicas.splice(0)) void r.stop(this.settings.stopGraceMs);
    void this.spare.drop();
  }

  private suspend(reason: string): void {
    this.suspendedReason = reason;
    this.hooks.note('', `environment suspended: ${reason}`, 'error');
    this.hooks.suspended(reason);
    this.hooks.event?.({ type: 'suspended', reason });
    this.rejectWaiters(new FlexdError('ServiceSuspended', `The environment is suspended: ${reason}.`, { status: 503, retryAfterSeconds: this.settings.retryAfterSeconds }));
    for (const r of this.replicas.splice(0)) void r.stop(this.settings.stopGraceMs);
    void this.spare.drop();
  }

  /** Drain: wait for the replica's in-flight tasks (up to the request timeout), then stop it. */
  private async retire(r: Replica): Promise<void> {
    r.retiring = true;
    this.retiring.add(r);
    try {
      await r.drained(this.settings.requestTimeoutMs);
      await r.stop(this.settings.stopGraceMs);
    } finally {
      this.retiring.delete(r);
    }
  }

  /** After a timeout: a replica that no longer answers pings is stuck (busy loop) and is replaced. */
  private async checkAfterTimeout(r: Replica): Promise<void> {
    try {
      await r.ping(this.settings.livenessTimeoutMs);
    } catch {
      this.hooks.note(r.containerId, `replica ${r.containerId} is not responding after a request timeout; killing it`, 'error');
      r.kill('unresponsive after a request timeout');
    }
  }

  /** Periodic: memory watchdog, liveness pings, idle eviction, scale-down. */
  private async tick(): Promise<void> {
    const now = Date.now();
    const limit = this.settings.memoryLimitMb * 1024 * 1024;
    for (const r of this.spare.replica ? [...this.replicas, this.spare.replica] : this.replicas) {
      const rss = await r.rssBytes();
      if (rss !== undefined && rss > limit && r.state !== 'exited') {
        this.hooks.note(r.containerId, `replica ${r.containerId} uses ${Math.round(rss / 1048576)} MB, over the memory cap of ${this.settings.memoryLimitMb} MB; replacing it`, 'error');
        r.kill(`memory cap of ${this.settings.memoryLimitMb} MB exceeded`, { outOfMemory: true });
      }
    }
    if (now >= this.livenessDue) {
      this.livenessDue = now + this.settings.livenessIntervalMs;
      for (const r of this.replicas.filter((x) => x.state === 'ready')) {
        r.ping(this.settings.livenessTimeoutMs).catch(async () => {
          if (r.state === 'exited') return;
          // A replica computing for requests that still have time is busy, not frozen: their
          // timeout decides (checkAfterTimeout). Stopped (SIGSTOP) or silent while idle is frozen.
          const state = await r.processState();
          if (r.inFlight > 0 && state !== 'T' && state !== 't') return;
          this.hooks.note(r.containerId, `replica ${r.containerId} did not answer a liveness ping within ${this.settings.livenessTimeoutMs} ms; replacing it`, 'error');
          r.kill('frozen: no answer to a liveness ping');
        });
      }
    }
    const idleFor = now - this.lastRequestAt;
    if (this.settings.idleTimeoutMs > 0 && idleFor >= this.settings.idleTimeoutMs && this.replicas.length > 0
      && this.replicas.every((r) => r.inFlight === 0) && this.waiters.length === 0) {
      const all = this.replicas.splice(0);
      this.hooks.note('', `idle for ${idleFor} ms: stopping ${all.length} replica(s); the next request starts one`);
      this.hooks.event?.({ type: 'idle', replicas: all.length, idleMs: idleFor });
      // The slot is free now: the spare boots while the idle replicas drain and stop.
      this.refillSpare();
      await Promise.all(all.map((r) => this.retire(r)));
    } else if (this.replicas.length > Math.max(1, this.settings.minReplicas) && this.replicas.every((r) => r.inFlight === 0)
      && idleFor >= this.settings.scaleDownIdleMs) {
      const extra = this.replicas.pop()!;
      this.hooks.note(extra.containerId, `scaled down to ${this.replicas.length} replicas`);
      this.refillSpare();
      await this.retire(extra);
    }
  }
}
