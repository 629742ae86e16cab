/**
 * flexd nodes as createRuntime instances in this process, on one PostgreSQL (not a test file: the
 * runner only picks up *.test.ts), for the scale tests that do not kill or pause a node (those run
 * nodes as processes: node-processes.ts). Each node has its own data dir and name; heartbeats are
 * fast so a node's swap shows in the status within a second.
 *
 *   const a = await runtimeNode(cleanup, { database, name: 'a', admin: ADMIN });
 *   const b = await runtimeNode(cleanup, { database, name: 'b', admin: ADMIN, npmCache: true });
 */
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.ts';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

/** A node's start (migrations, joining) or stop on a loaded machine: hang-catchers, not measures. */
const START_TIMEOUT_MS = 120_000;
const CLOSE_TIMEOUT_MS = 60_000;

export interface RuntimeNodeOptions {
  database: string;
  name: string;
  admin: { email: string; password: string };
  /**
   * How long a node stays live after its last heartbeat (heartbeats every 500 ms). 8 s sees a
   * stopped-without-a-word node gone within seconds; 20 s for files that load the machine
   * themselves (a loaded machine delays beats, never kills them).
   */
  liveWindowMs?: number;
  /** a warm npm cache of the node's own (its fetch account is another uid): for nodes that build */
  npmCache?: boolean;
}

export async function runtimeNode(cleanup: CleanupContext, o: RuntimeNodeOptions): Promise<Runtime> {
  const options: RuntimeOptions = {
    dataDir: await tempDir(cleanup, `flexd-node-${o.name}-`), port: 0, database: o.database, nodeName: o.name,
    nodeHeartbeatMs: 500, nodeLiveWindowMs: o.liveWindowMs ?? 8_000,
    adminEmail: o.admin.email, adminPassword: o.admin.password, passwordHashCost: TEST_PASSWORD_HASH_COST,
    ...(o.npmCache ? { npmCacheDir: await warmNpmCache(cleanup) } : {}),
  };
  const rt = await withDeadline(`node ${o.name} to start`, createRuntime(options), START_TIMEOUT_MS);
  cleanup.after(() => withDeadline(`node ${o.name} to close`, rt.close(), CLOSE_TIMEOUT_MS));
  return rt;
}
