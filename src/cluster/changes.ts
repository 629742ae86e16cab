import pg from 'pg';
import type { Logger } from '../logger.ts';
import { JOBS_CHANNEL } from '../store/jobs.ts';

/** The channel every node listens on; payloads are ids, never data (a NOTIFY carries at most 8000 bytes). */
export const CHANGES_CHANNEL = 'flexd_changes';
/** Waits between reconnection attempts of the listening connection, doubling up to the last. */
const RECONNECT_MS = [250, 500, 1_000, 2_000, 5_000];

/** One announced change: an environment's id, its new generation, and the node that made it. */
export interface Change { environmentId: string; generation: number; node: string }

/**
 * LISTEN on one dedicated connection (not a pooled one): every node hears every committed change.
 * A notification is a hint, never the truth — the receiver re-reads the rows. When the connection
 * drops, everything announced meanwhile is lost, so `resync` runs once it is back.
 */
export class ChangeListener {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly url: string, private readonly handlers: {
    change: (c: Change) => void;
    /** another node hinted that jobs are there to claim (JOBS_CHANNEL) */
    jobs?: () => void;
    /** after a (re)connection: re-read everything derived from the database */
    resync: () => void;
    log: Logger;
  }) {}

  /** Resolves once listening (first connection); later drops reconnect by themselves. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** Whether the listening connection is up now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === JOBS_CHANNEL) {
        this.handlers.jobs?.();
        return;
      }
      if (n.channel !== CHANGES_CHANNEL || !n.payload) return;
      try {
        const c = JSON.parse(n.payload) as Change;
        if (typeof c.environmentId === 'string' && typeof c.generation === 'number') this.handlers.change(c);
      } catch { /* not one of flexd's */ }
    });
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    await client.query(`LISTEN ${JOBS_CHANNEL}`);
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    if (this.attempt > 0) this.handlers.log.info({ attempts: this.attempt }, 'listening for changes again; re-reading what changed meanwhile');
    this.attempt = 0;
    this.handlers.resync();
    // Hints sent while away are lost too: look for jobs to claim now.
    this.handlers.jobs?.();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.handlers.log.warn({}, 'lost the database connection that listens for changes; reconnecting');
    this.retry();
  }

  private retry(): void {
    if (this.closed) return;
    const wait = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt++;
    this.timer = setTimeout(() => {
      this.connect().catch(() => this.retry());
    }, wait);
    this.timer.unref();
  }
}
