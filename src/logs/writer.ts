import type { LogRecord, LogStore } from '../store/logs.ts';

/**
 * Collects log records and writes them in batches: one transaction per flush, at most every
 * `flushIntervalMs` or when `maxLines` are waiting. A chatty replica then costs the runtime a
 * few transactions a second instead of one write per line. Listeners (`logs --follow`) hear
 * about each flushed batch.
 */
export class LogWriter {
  private pending: LogRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(environmentId: string) => void>();

  constructor(
    private readonly store: LogStore,
    private readonly capBytes: (environmentId: string) => number,
    private readonly flushIntervalMs: number,
    private readonly maxLines: number,
  ) {}

  write(record: LogRecord): void {
    this.pending.push(record);
    if (this.pending.length >= this.maxLines) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
  }

  /** A runtime line (not a replica's): supervision events, cold starts, dropped results. */
  note(environmentId: string, containerId: string, message: string, threshold: string | null = 'info'): void {
    this.write({ environmentId, containerId, timestamp: new Date().toISOString(), threshold, message });
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.store.append(batch, this.capBytes);
    } catch (err) {
      // The database is closed or full: the lines are lost, the runtime is not.
      console.error(`flexd: could not store ${batch.length} log lines: ${(err as Error).message}`);
      return;
    }
    const environments = new Set(batch.map((r) => r.environmentId));
    for (const listener of this.listeners) for (const id of environments) listener(id);
  }

  onFlush(listener: (environmentId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
