import type { Deployer } from '../deploy/pipeline.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/index.ts';
import type { PostgresClient } from '../store/postgres-client.ts';
import type { Supervisor } from '../supervisor/index.ts';
import { Coordinator } from './coordinator.ts';
import type { Cluster } from './index.ts';
import { Membership, type NodeView } from './membership.ts';

/** Several nodes on one PostgreSQL: membership, heartbeat and change announcements (docs/scale-out.md). */
export class PostgresCluster implements Cluster {
  readonly membership: Membership;
  private coordinator: Coordinator | undefined;

  constructor(private readonly o: {
    url: string; client: PostgresClient; store: Store; name: string; flexdVersion: string; heartbeatMs: number; liveWindowMs: number; log: Logger;
  }) {
    this.membership = new Membership(o.client, {
      name: o.name, flexdVersion: o.flexdVersion, heartbeatMs: o.heartbeatMs, liveWindowMs: o.liveWindowMs, log: o.log,
      serving: () => this.coordinator?.serving() ?? [],
    });
  }

  get nodeName(): string {
    return this.o.name;
  }

  /** Claims the node's name (refused while another live node holds it). */
  join(): Promise<void> {
    return this.membership.join();
  }

  /** Before the supervisor restores what the database says: note the generation of every environment. */
  async prepare(supervisor: Supervisor, deployer: Deployer): Promise<void> {
    this.coordinator = new Coordinator({ url: this.o.url, db: this.o.client, store: this.o.store, supervisor, deployer, membership: this.membership, log: this.o.log });
    await this.coordinator.snapshot();
  }

  /** Once the supervisor has restored: listen for the other nodes' changes, and catch up with those made during the restore. */
  async start(): Promise<void> {
    await this.coordinator?.start();
    await this.membership.beat();
  }

  nodes(): Promise<NodeView[]> {
    return this.membership.list();
  }

  async announce(environmentId: string): Promise<void> {
    await this.coordinator?.announce(environmentId);
  }

  async generations(environmentId: string): Promise<{ recorded: number | undefined; self: number | undefined }> {
    return { recorded: await this.coordinator?.recordedGeneration(environmentId), self: this.coordinator?.runningGeneration(environmentId) };
  }

  /** After a job's run here lost its lease mid-swap: serve what the database says for the environment again. */
  follow(environmentId: string): void {
    this.coordinator?.follow(environmentId);
  }

  async close(): Promise<void> {
    await this.coordinator?.close();
    await this.membership.leave();
  }
}
