/**
 * What happens to services while flexd runs, as typed events: the deployer and the pools emit
 * them where they happen (one line each), and the subscribers — flexd's server log
 * (server-log.ts) and the Prometheus metrics (src/metrics/) — turn them into lines and counters.
 * Events carry ids; subscribers look names up (EnvironmentNames), so emitting stays cheap.
 */

/** Why a replica ended: a crash, the memory cap, a failed liveness check, idling, or the runtime retiring it (swap, scale-down). */
export type ExitReason = 'crash' | 'memory' | 'liveness' | 'idle' | 'retired';

export type FlexdEvent =
  | { type: 'deploy-started'; environmentId: string; jobId: string; version?: string }
  | { type: 'deploy-finished'; environmentId: string; jobId: string; version: string; durationMs: number; by?: string | null }
  | { type: 'deploy-failed'; environmentId: string; jobId: string; version?: string; durationMs: number; reason: string }
  | { type: 'swap'; environmentId: string; from?: string; to: string; replicas: number }
  | { type: 'replica-exit'; environmentId: string; containerId: string; version: string; reason: ExitReason; detail: string; restartInMs?: number }
  | { type: 'replica-start-failed'; environmentId: string; containerId: string; detail: string }
  | { type: 'idle'; environmentId: string; replicas: number; idleMs: number }
  | { type: 'suspended'; environmentId: string; reason: string }
  /** a rollback job served `to` again (`from`: the version it replaced); `by`: the account's e-mail */
  | { type: 'rollback'; environmentId: string; jobId: string; from?: string; to: string; by: string | null }
  | { type: 'rollback-failed'; environmentId: string; jobId: string; to: string; reason: string; by: string | null }
  /** every replica restarted on the same version: a recycle asked for, or a changed environment applied */
  | { type: 'recycled'; environmentId: string; jobId: string; version: string; why: string; by: string | null }
  /** variables, settings, secret, name, runtime or description changed (names only, never values) */
  | { type: 'environment-changed'; environmentId: string; changes: string[]; by: string | null };

export type EventListener = (event: FlexdEvent) => void;

/** An event as a pool emits it: the supervisor adds the environment. */
export type PoolEvent = FlexdEvent extends infer E ? E extends { environmentId: string } ? Omit<E, 'environmentId'> : never : never;

/** Why a replica the runtime did not retire ended, from what the replica recorded about its death. */
export function exitReason(r: { outOfMemory: boolean; killReason?: string }): 'crash' | 'memory' | 'liveness' {
  if (r.outOfMemory) return 'memory';
  if (r.killReason && /liveness|frozen|unresponsive|not responding/i.test(r.killReason)) return 'liveness';
  return 'crash';
}

/** Events the bus keeps for the status page's "recent events" (since flexd started; not stored). */
const RECENT_EVENTS = 100;

export interface RecordedEvent { at: string; event: FlexdEvent }

/** One per runtime. A listener that throws breaks nothing: the emitter never sees it. */
export class EventBus {
  private readonly listeners: EventListener[] = [];
  private readonly history: RecordedEvent[] = [];

  on(listener: EventListener): void {
    this.listeners.push(listener);
  }

  off(listener: EventListener): void {
    const at = this.listeners.indexOf(listener);
    if (at >= 0) this.listeners.splice(at, 1);
  }

  /** The latest events, newest first. */
  recent(limit = RECENT_EVENTS): RecordedEvent[] {
    return this.history.slice(-limit).reverse();
  }

  emit(event: FlexdEvent): void {
    this.history.push({ at: new Date().toISOString(), event });
    if (this.history.length > RECENT_EVENTS) this.history.shift();
    for (const l of this.listeners) {
      try {
        l(event);
      } catch { /* an observer must never break the supervision or deploy that emitted */ }
    }
  }
}
