/**
 * `rt.watch(dir, target)` and `flexd dev` (issue 20): the folder itself serves — its own files
 * and node_modules, nothing copied, packed or stored (supervisor.activateInPlace) — and every
 * change to it is redeployed as one swap once the folder has been quiet for `debounceMs`. A
 * change that does not start leaves the previous replicas serving and says why. The replicas run
 * on the environment's runtime (src/runtimes), as a deploy's do.
 */
import type { FSWatcher } from 'chokidar';
import { relative, sep } from 'node:path';
import type { RuntimeContext } from '../context.ts';
import { readProject } from '../deploy/project.ts';
import type { FlexdError } from '../errors.ts';
import type { FlexdEvent } from '../events/bus.ts';
import type { Watcher, WatchOutcome } from '../public.ts';
import type { EnvironmentRow } from '../store/index.ts';
import type { CheckedWatch } from './arguments.ts';
import { failure, runtimeClosed } from './job-failure.ts';

/** A burst of saves (an editor writing a file and its backup, a formatter) redeploys once. */
const DEFAULT_DEBOUNCE_MS = 50;
/** Not the project's own source: dependencies, VCS and editor folders, logs. */
const IGNORED_SEGMENTS = new Set(['node_modules', '.git', '.hg', '.svn', '.flexd', '.idea', '.vscode', 'coverage']);

/** Every watch of a runtime, so close() ends them first. */
export type OpenWatches = Set<FolderWatch>;

/** Serves the folder, then watches it; rejects (and watches nothing) when the first start fails. */
export async function watchFolder(ctx: RuntimeContext, env: EnvironmentRow, o: CheckedWatch, open: OpenWatches, closed: () => boolean): Promise<Watcher> {
  const folder = new FolderWatch(ctx, env, o, open);
  const first = await folder.start();
  if (!first.ok) {
    await folder.close();
    throw closed() ? runtimeClosed('watch') : first.error!;
  }
  return folder;
}

export class FolderWatch implements Watcher {
  version: string | undefined;
  /** the Node version its replicas run on (the environment's runtime), once one was chosen */
  node: string | undefined;
  private files: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private changedAt = 0;
  /** the deploy running now; a change during it queues one more */
  private running: Promise<void> | undefined;
  private again = false;
  private closing: Promise<void> | undefined;
  private readonly waiting: ((o: WatchOutcome) => void)[] = [];
  private readonly untap: () => void;
  /** when the latest swap put new replicas in service (the old ones still drain after it) */
  private servingAt: number | undefined;
  private readonly onEvent = (e: FlexdEvent) => {
    if (e.type === 'swap' && e.environmentId === this.env.id) this.servingAt = Date.now();
  };

  constructor(private readonly ctx: RuntimeContext, private readonly env: EnvironmentRow, private readonly o: CheckedWatch, private readonly open: OpenWatches) {
    open.add(this);
    this.untap = o.onOutput ? ctx.supervisor.onLine(env.id, o.onOutput) : () => {};
    ctx.events.on(this.onEvent);
  }

  /**
   * The first deploy, then watching: resolves with the first deploy's outcome. A failed first
   * deploy is watched too with `keepWatching` (flexd dev: fix the file and it starts).
   */
  async start({ keepWatching = false }: { keepWatching?: boolean } = {}): Promise<WatchOutcome> {
    this.changedAt = Date.now();
    // chokidar is loaded by the first watch, not by every runtime (rt.watch and flexd dev only).
    const { watch: watchFiles } = await import('chokidar');
    const first = await this.deploy();
    if ((first.ok || keepWatching) && !this.closing) {
      const ignored = (path: string) => relative(this.o.dir, path).split(sep).some((part) => IGNORED_SEGMENTS.has(part));
      this.files = watchFiles(this.o.dir, { ignored, ignoreInitial: true, followSymlinks: false });
      this.files.on('all', () => this.changed());
      this.files.on('error', () => { /* a folder removed under the watch: the next change says more */ });
      await new Promise<void>((resolve) => this.files!.once('ready', () => resolve()));
    }
    return first;
  }

  get environmentId(): string {
    return this.env.id;
  }

  get serviceId(): string {
    return this.env.serviceId;
  }

  /**
   * Fresh replicas of the folder as it is, with the environment's variables as they are now
   * (rt.recycle and rt.setVariables on a watched environment); rejects with why they did not start.
   */
  async refresh(): Promise<void> {
    while (this.running) await this.running;
    this.changedAt = Date.now();
    const outcome = await this.deploy();
    if (!outcome.ok) throw outcome.error;
  }

  nextDeploy(): Promise<WatchOutcome> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer);
      await this.files?.close();
      await this.running;
      this.untap();
      this.ctx.events.off(this.onEvent);
      this.open.delete(this);
      // The folder's replicas stop with the watch; a stored version comes back at the next deploy or start.
      await this.ctx.supervisor.remove(this.env.id);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private changed(): void {
    if (this.closing) return;
    if (this.timer === undefined) this.changedAt = Date.now();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      void this.redeploy();
    }, this.o.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  private async redeploy(): Promise<void> {
    const outcome = await this.deploy();
    try {
      this.o.onDeploy?.(outcome);
    } catch { /* the caller's hook */ }
    for (const resolve of this.waiting.splice(0)) resolve(outcome);
    if (this.again && !this.closing) {
      this.again = false;
      this.changedAt = Date.now();
      void this.redeploy();
    }
  }

  private deploy(): Promise<WatchOutcome> {
    const run = (async (): Promise<WatchOutcome> => {
      const started = this.changedAt;
      this.servingAt = undefined;
      try {
        const project = await readProject(this.o.dir);
        // The variables as they are now: setVariables may have changed them since the last save.
        const env = await this.ctx.store.services.getEnvironment(this.env.id) ?? this.env;
        // The environment's runtime, as a deploy would run it: installed on first use; a save
        // never waits on the registry (the newest installed release of the major serves).
        const node = await this.ctx.runtimes.acquire(this.ctx.runtimes.nameFor(env.runtime), { refresh: false });
        this.node = node.version;
        await this.ctx.supervisor.activateInPlace(env, { version: project.version, projectDir: this.o.dir }, node);
        this.version = project.version;
        return { ok: true, version: project.version, durationMs: (this.servingAt ?? Date.now()) - started, node: node.version };
      } catch (err) {
        const error: FlexdError = failure(err, `the folder could not be served: ${(err as Error)?.message ?? String(err)}`);
        return { ok: false, error, durationMs: Date.now() - started, ...(this.node ? { node: this.node } : {}) };
      }
    })();
    this.running = run.then(() => { this.running = undefined; });
    return run;
  }
}
