import { hostname } from 'node:os';
import type { Supervisor } from '../supervisor/index.ts';
import type { NodeView } from './membership.ts';

export type { NodeView } from './membership.ts';

/** The node as the rest of flexd sees it: its name, the nodes it knows, and how to tell them about changes. */
export interface Cluster {
  readonly nodeName: string;
  /** every node of the database (one, on SQLite: this one) */
  nodes(): Promise<NodeView[]>;
  /** after this node changed what an environment runs: every other node converges (no-op on SQLite) */
  announce(environmentId: string): Promise<void>;
  /**
   * Several nodes: the environment's generation as recorded, and as this node runs it — a node
   * behind the recorded one has not applied the latest change yet (status stays UPDATING).
   */
  generations?(environmentId: string): Promise<{ recorded: number | undefined; self: number | undefined }>;
  close(): Promise<void>;
}

/** This node's default name: the host's. */
export function defaultNodeName(): string {
  return hostname();
}

/** One node on SQLite: nothing to coordinate; `nodes` describes this process. */
export function singleNode(name: string, flexdVersion: string, supervisor: Supervisor): Cluster {
  const startedAt = new Date().toISOString();
  return {
    nodeName: name,
    async nodes() {
      const pools = supervisor.pools();
      const serving = pools.map(({ environmentId, pool }) => ({ environmentId, version: pool.version ?? null, replicas: pool.replicaCount, status: pool.suspension !== null ? 'SUSPENDED' : 'ONLINE' }));
      return [{
        name, live: true, lastSeen: new Date().toISOString(), startedAt, flexdVersion,
        environments: serving.filter((s) => s.version !== null).length, replicas: serving.reduce((n, s) => n + s.replicas, 0), serving,
      }];
    },
    announce: async () => {},
    close: async () => {},
  };
}
