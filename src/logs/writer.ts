import type { Logger } from '../logger.ts';
import type { LogRecord, RingTotals } from '../store/logs.ts';
import type { LogSink } from './store-thread.ts';

/**
 * Memory the lines waiting for the log thread may hold. Under `npm run bench` (2 cores) the
 * thread stores 50–100k lines/s while the event loop, no longer storing them itself, reads a
 * flooding replica's output at up to ~200k lines/s: unless the replica is paused (onBacklog),
 * the difference piles up here. 16 MiB is about 60k lines of 100 B, under a second of the
 * thread's work.
 */
export const PENDING_MAX_BYTES = 16 * 1024 * 1024;
/**
 * An environment with more than this share of maxPendingBytes waiting is behind: its replicas
 * are asked to hold their output (onBacklog) until it is under BACKLOG_RESUME_SHARE. A replica's
 * stdout is a blocking pipe (child/main.ts), so a reader that pauses holds a flooding replica at
 * its next write; one environment is held back well before anything is dropped, and quiet
 * environments never are. The drop-oldest cap stays for the lines no pause holds back.
 */
const BACKLOG_PAUSE_SHARE = 1 / 4;
const BACKLOG_RESUME_SHARE = 1 / 16;
/** A pending record's cost against PENDING_MAX_BYTES beyond its message: the object and its other strings. */
const PENDING_RECORD_OVERHEAD_BYTES = 160;
/** Batches handed to the thread and not yet stored: one being stored, one queued behind it, so the thread never waits on the event loop. */
const MAX_BATCHES_IN_FLIGHT = 2;

export interface LogWriterOptions {
  /** each environment's ring cap, in bytes */
  capBytes: (environmentId: string) => number;
  /** a line waits at most this long before it is handed to the log thread */
  flushIntervalMs: number;
  /** lines per batch: a batch goes as soon as this many are waiting */
  maxLines: number;
  /** past this, the oldest waiting lines are dropped (and said so); default PENDING_MAX_BYTES */
  maxPendingBytes?: number;
  /** flexd's own log, for the writer's failures; default: console.error */
  log?: Logger;
}

/**
 * Collects log records and hands them to the log thread in batches, at most every
 * `flushIntervalMs` or when `maxLines` are waiting; the thread stores each batch in a few short
 * transactions. If the thread falls behind, an environment with many lines waiting is reported
 * behind (onBacklog: its replicas' output can be paused), and the waiting lines stay under
 * `maxPendingBytes` whatever happens: the oldest go, and one `[flexd] dropped N log lines
 * (ingest behind)` record per environment marks the gap. Listeners (`logs --follow`) hear about
 * each stored batch.
 *
 * @example
 * logs.note(envId, 'flexd', '[flexd] cold start');
 * await logs.flush();              // stored: store.logs.query(envId, …) sees it
 */
export class LogWriter {
  /** Lines not yet handed to the sink: `pending[head…]`. */
  private pending: LogRecord[] = [];
  private head = 0;
  private pendingBytes = 0;
  /** Every record accepted has a sequence number; `written` is the next one, `sent` that of `pending[head]`. */
  private written = 0;
  private sent = 0;
  private inFlight = 0;
  /** A batch goes before `maxLines` are waiting: the interval passed, or someone waits on flush(). */
  private due = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly dropped = new Map<string, { lines: number; timestamp: string }>();
  private readonly droppedTotal = new Map<string, number>();
  private readonly waiters: { upTo: number; resolve: () => void }[] = [];
  private readonly listeners = new Set<(environmentId: string) => void>();
  private readonly maxPendingBytes: number;
  private readonly pendingByEnvironment = new Map<string, number>();
  private readonly behind = new Set<string>();
  private readonly backlogListeners = new Set<(environmentId: string, behind: boolean) => void>();

  constructor(private readonly sink: LogSink, private readonly options: LogWriterOptions) {
    this.maxPendingBytes = options.maxPendingBytes ?? PENDING_MAX_BYTES;
  }

  write(record: LogRecord): void {
    if (this.closed) return;
    this.pending.push(record);
    this.written++;
    this.pendingBytes += pendingCost(record);
    const mine = this.count(record, 1);
    if (mine > this.maxPendingBytes * BACKLOG_PAUSE_SHARE && !this.behind.has(record.environmentId)) {
      this.behind.add(record.environmentId);
      for (const listener of this.backlogListeners) listener(record.environmentId, true);
    }
    if (this.pendingBytes > this.maxPendingBytes) this.dropOldest();
    if (this.waiting() >= this.options.maxLines) this.pump();
    else if (!this.timer && !this.due) this.armTimer();
  }

  /** A runtime line (not a replica's): supervision events, cold starts, dropped results. */
  note(environmentId: string, containerId: string, message: string, threshold: string | null = 'info'): void {
    this.write({ environmentId, containerId, timestamp: new Date().toISOString(), threshold, message });
  }

  /** Resolves once every line written before the call is stored (or dropped): a query then sees it. */
  flush(): Promise<void> {
    const upTo = this.written;
    if (this.sent >= upTo && this.inFlight === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ upTo, resolve }));
    this.due = true;
    this.pump();
    return done;
  }

  private get log(): Logger {
    return this.options.log ?? CONSOLE_LOG;
  }

  /** Drops an environment's stored lines, after what was written for it so far. */
  async deleteEnvironment(environmentId: string): Promise<void> {
    await this.flush();
    this.droppedTotal.delete(environmentId);
    try {
      await this.sink.deleteEnvironment(environmentId);
    } catch (err) {
      this.log.error({ environmentId, error: (err as Error).message }, 'could not delete the log lines of an environment');
    }
  }

  /** Lines of the environment dropped because the log thread fell behind, since the start. */
  droppedLines(environmentId: string): number {
    return this.droppedTotal.get(environmentId) ?? 0;
  }

  onFlush(listener: (environmentId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Hears `(environmentId, true)` when an environment's waiting lines pass a quarter of
   * maxPendingBytes — pause reading its replicas' output — and `(environmentId, false)` once
   * they are under a sixteenth — read on.
   */
  onBacklog(listener: (environmentId: string, behind: boolean) => void): () => void {
    this.backlogListeners.add(listener);
    return () => this.backlogListeners.delete(listener);
  }

  /** Stores what is waiting, then ends the log thread; later lines are ignored. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sink.close();
  }

  private waiting(): number {
    return this.pending.length - this.head;
  }

  private armTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.pump();
    }, this.options.flushIntervalMs);
  }

  /** Hands batches to the sink while it has room for one and one is due. */
  private pump(): void {
    const { maxLines } = this.options;
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.waiting() > 0 && (this.due || this.waiting() >= maxLines)) {
      const batch = this.pending.slice(this.head, this.head + maxLines);
      this.head += batch.length;
      this.sent += batch.length;
      for (const r of batch) {
        this.pendingBytes -= pendingCost(r);
        this.count(r, -1);
      }
      this.send(this.withDropNotes(batch), this.sent);
    }
    for (const id of this.behind) {
      if ((this.pendingByEnvironment.get(id) ?? 0) < this.maxPendingBytes * BACKLOG_RESUME_SHARE) {
        this.behind.delete(id);
        for (const listener of this.backlogListeners) listener(id, false);
      }
    }
    if (this.waiting() === 0) {
      this.pending = [];
      this.head = 0;
      this.pendingBytes = 0;
      this.pendingByEnvironment.clear();
      this.due = false;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    } else {
      if (this.head > 4096 && this.head * 2 > this.pending.length) {
        this.pending = this.pending.slice(this.head);
        this.head = 0;
      }
      if (!this.due && !this.timer) this.armTimer();
    }
  }

  private send(batch: LogRecord[], upTo: number): void {
    this.inFlight++;
    const caps: RingTotals = {};
    for (const r of batch) caps[r.environmentId] ??= this.options.capBytes(r.environmentId);
    this.sink.append(batch, caps).then(() => true, (err: Error) => {
      // The database is full or gone: the lines are lost, the runtime is not.
      this.log.error({ lines: batch.length, error: err.message }, 'could not store log lines');
      return false;
    }).then((stored) => {
      this.inFlight--;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        if (this.waiters[i].upTo <= upTo) this.waiters.splice(i, 1)[0].resolve();
      }
      if (stored) for (const listener of this.listeners) for (const id of Object.keys(caps)) listener(id);
      this.pump();
    }).catch((err: Error) => this.log.error({ error: err.stack ?? err.message }, 'a log listener failed'));
  }

  /**
   * The thread is behind: drop the oldest waiting lines down to three quarters of the cap, so
   * the next drop is a while away (and the copy that lets them go is paid once per quarter of
   * the cap). The newest line stays, however large.
   */
  private dropOldest(): void {
    const target = this.maxPendingBytes * 0.75;
    const now = new Date().toISOString();
    const last = this.pending.length - 1;
    while (this.pendingBytes > target && this.head < last) {
      const r = this.pending[this.head++];
      this.sent++;
      this.pendingBytes -= pendingCost(r);
      this.count(r, -1);
      const d = this.dropped.get(r.environmentId);
      if (d) d.lines++;
      else this.dropped.set(r.environmentId, { lines: 1, timestamp: now });
      this.droppedTotal.set(r.environmentId, (this.droppedTotal.get(r.environmentId) ?? 0) + 1);
    }
    this.pending = this.pending.slice(this.head);
    this.head = 0;
  }

  /** Adds (`sign` 1) or takes away (-1) a waiting record from its environment's bytes; returns them. */
  private count(r: LogRecord, sign: 1 | -1): number {
    const bytes = (this.pendingByEnvironment.get(r.environmentId) ?? 0) + sign * pendingCost(r);
    if (bytes > 0) this.pendingByEnvironment.set(r.environmentId, bytes);
    else this.pendingByEnvironment.delete(r.environmentId);
    return bytes;
  }

  /** The first batch after a drop opens with the note that marks the gap, one per environment. */
  private withDropNotes(batch: LogRecord[]): LogRecord[] {
    if (this.dropped.size === 0) return batch;
    const notes = [...this.dropped].map(([environmentId, d]): LogRecord => ({
      environmentId, containerId: 'flexd', timestamp: d.timestamp, threshold: 'warn', message: `[flexd] dropped ${d.lines} log lines (ingest behind)`,
    }));
    this.dropped.clear();
    return [...notes, ...batch];
  }
}

function pendingCost(r: LogRecord): number {
  return r.message.length + PENDING_RECORD_OVERHEAD_BYTES;
}

/** Without a logger (the writer's own tests), failures still reach stderr. */
const CONSOLE_LOG: Logger = {
  debug() {},
  info() {},
  warn: (fields, msg) => console.error(`flexd: ${msg}`, fields),
  error: (fields, msg) => console.error(`flexd: ${msg}`, fields),
};
