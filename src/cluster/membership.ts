import { randomUUID } from 'node:crypto';
import { FlexdError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SqlClient } from '../store/sql.ts';

/** What `GET /v4/nodes` answers for each node. */
export interface NodeView {
  name: string;
  live: boolean;
  lastSeen: string;
  startedAt: string;
  flexdVersion: string;
  /** environments with a running version on the node */
  environments: number;
  /** replicas alive on the node */
  replicas: number;
  /** per environment: the version it serves and its replicas (status's `nodes`) */
  serving: ServingReport[];
}

export interface ServingReport {
  environmentId: string; version: string | null; replicas: number; status: string;
  /** the environment's generation as the node runs it (absent from a node that has not applied any) */
  generation?: number;
}

export interface MembershipOptions {
  name: string;
  flexdVersion: string;
  heartbeatMs: number;
  liveWindowMs: number;
  /** what the node serves now, written with each heartbeat */
  serving: () => ServingReport[];
  log: Logger;
}

interface NodeRow {
  name: string; startedAt: Date; lastSeen: Date; flexdVersion: string; live: boolean; stopped: boolean; environments: ServingReport[] | string;
}

/**
 * This node's row among the nodes of one PostgreSQL (table `nodes`): claimed at start — refused
 * while another live node holds the name — and kept fresh by a heartbeat on the database's clock
 * (`now()`), never this host's: clocks of nodes differ. A node is live while its last heartbeat
 * is within `liveWindowMs`; a clean stop marks it stopped at once.
 */
export class Membership {
  /** tells this process's row from an earlier one of the same name */
  private readonly instance = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(private readonly db: SqlClient, private readonly o: MembershipOptions) {}

  get name(): string {
    return this.o.name;
  }

  /** Claims the name, or throws NodeNameInUse naming how recently the other node was seen. */
  async join(): Promise<void> {
    const claimed = await this.db.get<{ instance: string }>(`INSERT INTO nodes (name, instance, started_at, last_seen, flexd_version, stopped, environments)
      VALUES (?, ?, now(), now(), ?, FALSE, '[]')
      ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, started_at = now(), last_seen = now(),
        flexd_version = excluded.flexd_version, stopped = FALSE, environments = '[]'
      WHERE nodes.stopped OR nodes.last_seen < now() - CAST(? AS INTEGER) * INTERVAL '1 millisecond'
      RETURNING instance`, [this.o.name, this.instance, this.o.flexdVersion, this.o.liveWindowMs]);
    if (claimed?.instance !== this.instance) {
      const other = await this.db.get<{ ago: number }>('SELECT CAST(EXTRACT(EPOCH FROM now() - last_seen) AS INTEGER) AS ago FROM nodes WHERE name = ?', [this.o.name]);
      throw new FlexdError('NodeNameInUse',
        `another live flexd node is named "${this.o.name}" (last seen ${other?.ago ?? 0} s ago): give this one another --node-name, or stop that one first`, { status: 500 });
    }
    this.timer = setInterval(() => { this.beating ??= this.beat().finally(() => { this.beating = undefined; }); }, this.o.heartbeatMs);
    this.timer.unref();
  }

  /** Records that this node is alive and what it serves. A database that is away skips a beat. */
  async beat(): Promise<void> {
    try {
      const { changes } = await this.db.run(`UPDATE nodes SET last_seen = now(), environments = CAST(? AS JSONB)
        WHERE name = ? AND instance = ?`, [JSON.stringify(this.o.serving()), this.o.name, this.instance]);
      if (changes === 0) this.o.log.error({ node: this.o.name }, 'another node took this node\'s name while its heartbeat was late');
    } catch { /* the database is away: the next beat tries again */ }
  }

  /** A clean stop: the row says stopped, so the name is free and the node shows not live at once. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.db.run('UPDATE nodes SET stopped = TRUE WHERE name = ? AND instance = ?', [this.o.name, this.instance]).catch(() => {});
  }

  /** Every node the database knows, live ones first, by name. */
  async list(): Promise<NodeView[]> {
    const rows = await this.db.all<NodeRow>(`SELECT name, started_at AS "startedAt", last_seen AS "lastSeen", flexd_version AS "flexdVersion", stopped, environments,
        (NOT stopped AND last_seen >= now() - CAST(? AS INTEGER) * INTERVAL '1 millisecond') AS live
      FROM nodes ORDER BY name`, [this.o.liveWindowMs]);
    return rows.map((r) => {
      const serving = (typeof r.environments === 'string' ? JSON.parse(r.environments) : r.environments) as ServingReport[];
      return {
        name: r.name, live: r.live, lastSeen: r.lastSeen.toISOString(), startedAt: r.startedAt.toISOString(), flexdVersion: r.flexdVersion,
        environments: serving.filter((s) => s.version !== null).length, replicas: serving.reduce((n, s) => n + s.replicas, 0), serving,
      };
    }).sort((a, b) => Number(b.live) - Number(a.live) || a.name.localeCompare(b.name));
  }
}
