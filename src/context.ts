import type { Settings } from './config.ts';
import type { Cluster } from './cluster/index.ts';
import type { Deployer } from './deploy/pipeline.ts';
import type { EnvironmentDirectory } from './dataplane/directory.ts';
import type { EventBus } from './events/bus.ts';
import type { Metrics } from './metrics/registry.ts';
import type { LogWriter } from './logs/writer.ts';
import type { Logger } from './logger.ts';
import type { RuntimeCatalog } from './runtimes/catalog.ts';
import type { Store } from './store/index.ts';
import type { Supervisor } from './supervisor/index.ts';

/** What the planes (management API, data plane, CLI-less embedding) share: one per runtime. */
export interface RuntimeContext {
  readonly settings: Readonly<Settings>;
  readonly dataDir: string;
  readonly store: Store;
  /** this node among the nodes of its database (one, on SQLite): names, liveness, change announcements */
  readonly cluster: Cluster;
  /** every service and environment in memory, refreshed on changes: the data plane and log lines read it */
  readonly directory: EnvironmentDirectory;
  readonly logs: LogWriter;
  readonly supervisor: Supervisor;
  readonly deployer: Deployer;
  /** the Node majors environments run on: the host's, installed from the registry, configured at serve (src/runtimes) */
  readonly runtimes: RuntimeCatalog;
  /** flexd's own event log (src/logger.ts); silent unless the embedder or `flexd serve` gave one */
  readonly log: Logger;
  /** what happens to services (deploys, swaps, exits…): the server log and the metrics listen (src/events) */
  readonly events: EventBus;
  /** Prometheus metrics and the status page's traffic figures */
  readonly metrics: Metrics;
}
