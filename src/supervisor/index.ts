import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveSettings, type Settings } from '../config.ts';
import { FlexdError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import { parseLogLine } from '../logs/threshold.ts';
import type { LogWriter } from '../logs/writer.ts';
import { newContainerId } from '../store/ids.ts';
import type { EnvironmentRow, Store, VersionRow } from '../store/index.ts';
import { writeDependencyTree, writeProjectFiles } from '../deploy/artifact.ts';
import { hostRuntime, type NodeRuntime } from '../runtimes/catalog.ts';
import type { ReceiverInfo } from '../child/protocol.ts';
import { buildChildEntry } from './child-entry.ts';
import { notDeployed, shuttingDown } from './errors.ts';
import { Pool, type DispatchResult, type Generation } from './pool.ts';
import { Replica } from './replica.ts';
import { replicaEnvironment } from './replica-env.ts';
import { launchInFolder, probeFolderMode, treeOwner, type FolderMode, type VersionFolder } from './replica-folder.ts';
import { describeIsolation, EnvironmentDirs, prepareSandbox, removeSandbox, type Sandbox } from './sandbox.ts';
import { SharedTrees } from './shared-trees.ts';
import { removeTree } from './remove-tree.ts';

export type { DispatchResult } from './pool.ts';

/** The version id of a folder served in place (activateInPlace): no stored version, no unpacked artifact. */
const IN_PLACE_VERSION_ID = 'in-place';

export interface SupervisorDeps {
  dataDir: string;
  settings: Settings;
  store: Store;
  logs: LogWriter;
  /** where pools report swaps, exits, idling and suspensions (server log, metrics) */
  events?: EventBus;
  /** flexd's own log (src/logger.ts) */
  log?: Logger;
  /** tells the other nodes (src/cluster) that what the environment runs changed here: its suspension */
  announce?: (environmentId: string) => Promise<void>;
}

/**
 * Owns every environment's pool of replicas: starts them from stored artifacts, routes tasks
 * to them, and stops them. The supervisor never reads an upload directory: replicas run from
 * the artifact written out of SQLite into the environment's own folder of a fresh run dir
 * (sandbox.ts), as the environment's own account when flexd is root.
 */
export class Supervisor {
  private readonly poolsById = new Map<string, Pool>();
  private closed = false;
  private readonly childEntry: string;
  private readonly sandbox: Sandbox;
  private readonly dirs = new Map<string, EnvironmentDirs>();
  /** Dependency trees written out once for the whole runtime (shared-trees.ts). */
  private readonly trees: SharedTrees;
  /** Live replicas by environment, and the environments whose output the log writer asked to hold. */
  private readonly replicasOf = new Map<string, Set<Replica>>();
  private readonly heldBack = new Set<string>();
  /** Each environment as it was last activated: replicas start from it without a database round trip. */
  private readonly envs = new Map<string, EnvironmentRow>();
  /** How replicas get their project folder (replica-folder.ts), found at the first activation. */
  private mode: FolderMode | undefined;
  private probing: Promise<FolderMode> | undefined;
  /** Taps on environments' output (rt.watch's onOutput, flexd dev). */
  private readonly lineListeners = new Map<string, Set<(line: string) => void>>();

  constructor(private readonly deps: SupervisorDeps) {
    // A flooding environment waits at its own pipe instead of piling lines up in flexd (logs/writer.ts).
    deps.logs.onBacklog((environmentId, behind) => {
      if (behind) this.heldBack.add(environmentId);
      else this.heldBack.delete(environmentId);
      for (const replica of this.replicasOf.get(environmentId) ?? []) replica.holdOutput(behind);
    });
    this.sandbox = prepareSandbox(deps.dataDir, deps.settings.runDir);
    if (this.sandbox.note) deps.log?.warn({ runDir: this.sandbox.runDir }, this.sandbox.note);
    this.childEntry = buildChildEntry(this.sandbox.runDir);
    this.trees = new SharedTrees(this.sandbox.runDir);
    // Every replica runs it, whatever flexd's umask.
    chmodSync(dirname(this.childEntry), 0o755);
    chmodSync(this.childEntry, 0o644);
  }

  /** Which isolation is in force, for flexd's start line. */
  describeIsolation(): string {
    return describeIsolation(this.sandbox, this.deps.settings);
  }

  private dirsOf(env: EnvironmentRow): EnvironmentDirs {
    let dirs = this.dirs.get(env.id);
    if (!dirs) {
      dirs = new EnvironmentDirs(this.sandbox, env.id, env.accountSlot, this.deps.settings, this.trees);
      this.dirs.set(env.id, dirs);
    }
    return dirs;
  }

  /** The settings an environment runs with: the runtime's, overridden by its own. */
  settingsFor(env: EnvironmentRow): Settings {
    return resolveSettings({ ...this.deps.settings, ...env.settings }) as Settings;
  }

  pool(environmentId: string): Pool | undefined {
    return this.poolsById.get(environmentId);
  }

  /** Every environment with a pool on this node. */
  pools(): { environmentId: string; pool: Pool }[] {
    return [...this.poolsById].map(([environmentId, pool]) => ({ environmentId, pool }));
  }

  /**
   * Swaps the environment to `version` on Node `node` (src/runtimes) with its current variables.
   * Rejects (StartError) if the new replicas cannot start.
   */
  async activate(env: EnvironmentRow, version: VersionRow, node: NodeRuntime): Promise<void> {
    // After close, a deploy still in flight must not start replicas nobody will stop.
    if (this.closed) throw shuttingDown('flexd');
    const dirs = this.dirsOf(env);
    const folder = await this.writeVersion(version, dirs, await this.folderMode());
    await this.swap(env, dirs, {
      versionId: version.id,
      version: version.version,
      projectDir: folder.dir,
      tree: folder.tree,
      nativeAddons: version.nativeAddons,
      env: replicaEnvironment(env),
      node,
    });
  }

  /**
   * `flexd dev` and `rt.watch`: swaps the environment to replicas running `projectDir` itself —
   * the developer's folder with its own node_modules, nothing copied or stored — as `node .` runs
   * there: in that folder, as flexd's own user, without the permission model, on flexd's own Node
   * (the folder's node_modules were installed for it) unless `node` says otherwise.
   */
  async activateInPlace(env: EnvironmentRow, source: { version: string; projectDir: string }, node: NodeRuntime = hostRuntime()): Promise<void> {
    if (this.closed) throw shuttingDown('flexd');
    await this.swap(env, this.dirsOf(env), { versionId: IN_PLACE_VERSION_ID, version: source.version, projectDir: source.projectDir, inPlace: true, env: replicaEnvironment(env), node });
  }

  /** Every line the environment's replicas write, as they write it, until the returned function is called. */
  onLine(environmentId: string, listener: (line: string) => void): () => void {
    let listeners = this.lineListeners.get(environmentId);
    if (!listeners) this.lineListeners.set(environmentId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.lineListeners.get(environmentId) === listeners) this.lineListeners.delete(environmentId);
    };
  }

  private async swap(env: EnvironmentRow, dirs: EnvironmentDirs, generation: Generation): Promise<void> {
    const settings = this.settingsFor(env);
    this.envs.set(env.id, env);
    let pool = this.poolsById.get(env.id);
    if (!pool) {
      pool = this.createPool(env, settings);
      this.poolsById.set(env.id, pool);
    } else {
      pool.updateSettings(settings);
    }
    try {
      await pool.activate(generation);
    } finally {
      // The old generation has drained and stopped, or the new one failed: keep only what runs.
      const running = pool.versionId;
      if (this.poolsById.get(env.id) === pool) dirs.prune(new Set(running === undefined ? [] : [running]));
    }
  }

  dispatch(environmentId: string, task: Record<string, unknown>): Promise<DispatchResult> {
    // Not async: the pool's promise is handed on as it is (one promise and tick fewer per request).
    if (this.closed) return Promise.reject(shuttingDown('flexd'));
    const pool = this.poolsById.get(environmentId);
    if (!pool) return Promise.reject(notDeployed());
    return pool.dispatch(task);
  }

  /** The receiver the environment's serving version would have under `node .` (pool.ts), if known. */
  receiverOf(environmentId: string): ReceiverInfo | undefined {
    return this.poolsById.get(environmentId)?.receiver;
  }

  /**
   * Throws what a request to the environment would get when no version serves there: 404
   * NotDeployed, or 503 ServiceSuspended (the data plane's `/healthcheck` answers so).
   */
  checkServing(environmentId: string): void {
    if (this.closed) throw shuttingDown('flexd');
    const pool = this.poolsById.get(environmentId);
    if (!pool || pool.version === undefined) throw notDeployed();
    if (pool.suspension !== null) {
      throw new FlexdError('ServiceSuspended', `The environment is suspended: ${pool.suspension}. Deploy or recycle to restart it.`,
        { status: 503, retryAfterSeconds: pool.retryAfterSeconds });
    }
  }

  async remove(environmentId: string): Promise<void> {
    const pool = this.poolsById.get(environmentId);
    this.poolsById.delete(environmentId);
    this.envs.delete(environmentId);
    await pool?.close();
    this.dirs.get(environmentId)?.remove();
    this.dirs.delete(environmentId);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.poolsById.values()];
    this.poolsById.clear();
    await Promise.all(all.map((p) => p.close()));
    await removeSandbox(this.sandbox);
  }

  private createPool(env: EnvironmentRow, settings: Settings): Pool {
    const environmentId = env.id;
    return new Pool(settings, {
      spawn: (generation, s, options) => this.spawn(environmentId, generation, s, options?.spare === true),
      note: (containerId, message, threshold = 'info') => this.deps.logs.note(environmentId, containerId || 'flexd', `[flexd] ${message}`, threshold),
      suspended: (reason) => {
        // The environment may have been deleted meanwhile, or the database be away: the pool knows it is suspended.
        // A suspension is cluster-wide: the other nodes hear of it once it is recorded.
        this.deps.store.services.updateEnvironment(environmentId, { suspendedReason: reason })
          .then(() => (reason === null ? undefined : this.deps.announce?.(environmentId)))
          .catch(() => {});
      },
      event: (e) => this.deps.events?.emit({ ...e, environmentId }),
    });
  }

  private spawn(environmentId: string, generation: Generation, settings: Settings, spare = false): Replica {
    const env = this.envs.get(environmentId);
    const dirs = this.dirs.get(environmentId);
    if (!env || !dirs) throw new Error(`flexd: environment ${environmentId} is gone`);
    const containerId = newContainerId();
    const paths = dirs.replica(containerId);
    // In place (flexd dev): the developer's own folder, as `node .` runs it there. Else the replica's private view of its version.
    const inPlace = generation.inPlace === true;
    const launch = inPlace ? undefined : launchInFolder(this.mode ?? 'copy', { dir: generation.projectDir, tree: generation.tree ?? null }, paths, dirs.account);
    const projectDir = launch?.projectDir ?? generation.projectDir;
    const replica = new Replica({
      containerId,
      version: generation.version,
      nodePath: generation.node.nodePath,
      nodeMajor: generation.node.major,
      childEntry: this.childEntry,
      projectDir,
      cwd: projectDir,
      launcher: launch && { command: launch.command, args: launch.args },
      env: { ...generation.env, HOME: paths.tmp, TMPDIR: paths.tmp },
      memoryLimitMb: settings.memoryLimitMb,
      readyTimeoutMs: settings.readyTimeoutMs,
      startupTailLines: settings.startupTailLines,
      strictRejections: settings.strictUnhandledRejections,
      permissions: settings.permissionModel && !inPlace
        ? { read: [projectDir, this.childEntry, paths.tmp], write: [projectDir, paths.tmp], addons: generation.nativeAddons }
        : undefined,
      uid: launch?.uid,
      gid: launch?.gid,
      spare,
    });
    replica.on('line', (_stream: string, line: string) => {
      for (const listener of this.lineListeners.get(environmentId) ?? []) {
        try {
          listener(line);
        } catch { /* a tap never breaks the replica's supervision */ }
      }
      const { threshold, message } = parseLogLine(line);
      this.deps.logs.write({ environmentId, containerId, timestamp: new Date().toISOString(), threshold, message });
    });
    let live = this.replicasOf.get(environmentId);
    if (!live) this.replicasOf.set(environmentId, (live = new Set()));
    live.add(replica);
    if (this.heldBack.has(environmentId)) replica.holdOutput(true);
    replica.once('exit', () => {
      live.delete(replica);
      if (live.size === 0 && this.replicasOf.get(environmentId) === live) this.replicasOf.delete(environmentId);
      removeTree(paths.root);
    });
    return replica;
  }

  /**
   * Writes the version out once (sandbox.ts, replica-folder.ts): its own files into its folder,
   * and its dependency tree into the runtime's trees unless a version of any environment has it
   * already (shared-trees.ts; in overlay mode as root the environment copies it once as its
   * account's). Its replicas share both, read-only; nothing is unpacked again for a rollback, a
   * redeploy with the same dependencies or another environment with the same tree.
   */
  private async writeVersion(version: VersionRow, dirs: EnvironmentDirs, mode: FolderMode): Promise<VersionFolder> {
    const { store } = this.deps;
    const treeKey = await store.versions.dependenciesKey(version.id);
    return dirs.version(version.id, treeKey ?? null, treeOwner(mode, dirs.account),
      async (into, owner) => writeProjectFiles(await store.versions.projectPart(version.id), into, owner),
      async (into) => writeDependencyTree(await store.dependencyTrees.tree(treeKey!), into));
  }

  /** overlay or copy (replica-folder.ts): the setting, or what a probe found (once per runtime). */
  private folderMode(): Promise<FolderMode> {
    this.probing ??= (async () => {
      const setting = this.deps.settings.replicaFolder;
      const mode: FolderMode = setting === 'overlay' || setting === 'copy' ? setting : await probeFolderMode(this.sandbox.runDir);
      this.mode = mode;
      if (setting === 'auto' && mode === 'copy') {
        this.deps.log?.warn({}, 'replicas get a private copy of their project folder: this system does not let flexd mount an overlay view (see docs/architecture.md, Layout)');
      }
      return mode;
    })();
    return this.probing;
  }
}
