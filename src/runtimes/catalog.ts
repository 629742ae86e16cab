import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import semver from 'semver';
import { runsAsRoot } from '../isolation/accounts.ts';
import { installRelease, listInstalled, probeVersion, sweepStaging, unreachableByOthers, type InstalledRuntime } from './installed.ts';
import { effectiveMajor, invalidRuntime, parseRuntimeName, runtimeName, type RuntimeChoice } from './names.ts';
import { platformPackage } from './platform.ts';
import { newestRelease, RegistryUnreachable, type Release } from './registry.ts';
import { markUsed, sweepUnusedReleases } from './sweep.ts';

/** A staging folder this old is what a killed install left behind (an install takes seconds to minutes). */
const STALE_STAGING_MS = 60 * 60_000;

/** The Node a replica or build runs on. */
export interface NodeRuntime {
  /** the runtime's name, as the API spells it (`flex-runtime-node22`, or a configured name) */
  name: string;
  major: number;
  /** e.g. 22.23.5 */
  version: string;
  nodePath: string;
  /** the prefix holding `include/node`: npm's `nodedir`, so native addons build without downloading headers */
  headersDir: string | undefined;
  /** the host's own Node (no download), one installed from the registry, or an executable configured at serve */
  source: 'host' | 'registry' | 'configured';
}

export interface CatalogOptions {
  /** where releases are installed (`<dataDir>/runtimes`, or `runtimesDir`) */
  root: string;
  /** the registry's URL (registry.ts registryUrl) */
  registry: string;
  /** what an environment that chose no runtime runs; '' = the host's major */
  defaultRuntime: string;
  /** Kinvey's old majors → the major they run on (names.ts parseLegacyTable) */
  legacy: ReadonlyMap<number, number>;
  /** `serve --runtime NAME=/path/to/node` */
  configured: Readonly<Record<string, string>>;
}

export interface AcquireOptions {
  /** ask the registry for a newer release of the major (a deploy, recycle or rollback); otherwise the newest installed serves */
  refresh: boolean;
  /** a line for the job's progress: what is installed, what runs */
  progress?: (line: string) => void;
}

/** The host's own Node: its major needs no download (so `npm start` fetches nothing). */
export const HOST_MAJOR = semver.major(process.version);

/**
 * The Node majors flexd can run replicas and builds on (docs/runtimes.md): the host's own, ones
 * installed from the npm registry on first use, and executables configured at `serve`.
 *
 * @example
 *   const node = await catalog.acquire('flex-runtime-node22', { refresh: true, progress });
 *   spawn(node.nodePath, [...]);
 */
export class RuntimeCatalog {
  /** the API name of what an environment without a runtime of its own runs */
  readonly defaultName: string;
  private readonly installing = new Map<string, Promise<InstalledRuntime>>();
  private readonly probed = new Map<string, Promise<string>>();
  /** registry releases chosen by acquire, and when: a build or swap between choosing one and starting on it (kept for the grace, as its use mark) */
  private readonly acquired = new Map<string, number>();

  constructor(private readonly o: CatalogOptions) {
    this.defaultName = o.defaultRuntime ? this.canonical(o.defaultRuntime) : runtimeName(HOST_MAJOR);
    sweepStaging(o.root, STALE_STAGING_MS);
  }

  /**
   * The name to store for an environment (`node22` → `flex-runtime-node22`).
   * @throws FlexdError `InvalidRuntime` (400) for a name flexd cannot run
   */
  canonical(name: string): string {
    return this.parse(name).name;
  }

  /** The runtime an environment runs: its own, or the default. */
  nameFor(runtime: string | null | undefined): string {
    return runtime || this.defaultName;
  }

  /** The major a name runs on, without asking anything (undefined for a configured executable). */
  majorFor(name: string): number | undefined {
    const choice = this.parse(name);
    return choice.kind === 'major' ? effectiveMajor(choice) : undefined;
  }

  /**
   * Whether the runtime can be had now, without installing it: refused before a deploy or an
   * update is accepted, so nothing stops serving for a runtime that will not come.
   * @throws FlexdError `InvalidRuntime` (400) with the reason: unknown name or major, wrong platform, offline
   */
  async check(name: string): Promise<void> {
    const choice = this.parse(name);
    if (choice.kind === 'configured') {
      await this.configuredVersion(choice.path);
      return;
    }
    const major = effectiveMajor(choice);
    if (major === HOST_MAJOR) return;
    const pkg = platformPackage();
    if (listInstalled(this.o.root, pkg).some((r) => r.major === major)) return;
    await this.newest(pkg, major).catch((err) => {
      throw err instanceof RegistryUnreachable ? invalidRuntime(`Node ${major} is not installed, and ${err.message}`) : err;
    });
  }

  /**
   * The Node to run `name` on, installed from the registry on first use. With `refresh`, a newer
   * release of the major than the installed one is installed and used; when the registry cannot
   * be reached the newest installed release serves. Each step is said through `progress`.
   * @throws FlexdError `InvalidRuntime` (400) when it cannot be had
   */
  async acquire(name: string, o: AcquireOptions): Promise<NodeRuntime> {
    const say = o.progress ?? (() => {});
    const choice = this.parse(name);
    const runtime = await this.resolve(choice, o.refresh, say);
    say(describeChoice(choice, runtime));
    return runtime;
  }

  /** The releases installed from the registry for this machine, newest first. */
  installed(): InstalledRuntime[] {
    try {
      return listInstalled(this.o.root, platformPackage());
    } catch {
      return [];
    }
  }

  /**
   * Removes the releases from the registry nothing uses any more (sweep.ts): not the newest of a
   * major in `majors`, nor one running here or on the host, nor one used within `graceMs`.
   * Returns the versions removed.
   */
  async sweepUnused(o: { graceMs: number; majors: () => Promise<Iterable<number>>; running: () => Iterable<string> }): Promise<string[]> {
    const now = Date.now();
    for (const [path, at] of this.acquired) if (now - at > o.graceMs) this.acquired.delete(path);
    return sweepUnusedReleases({
      root: this.o.root, pkg: platformPackage(), graceMs: o.graceMs,
      uses: { majors: o.majors, nodePaths: () => [...o.running(), ...this.acquired.keys()] },
    });
  }

  /** The configured executables, by name. */
  get configured(): Readonly<Record<string, string>> {
    return this.o.configured;
  }

  /** The host's own Node as a runtime. */
  host(): NodeRuntime {
    return hostRuntime();
  }

  private parse(name: string): RuntimeChoice {
    return parseRuntimeName(name, this.o.configured, this.o.legacy);
  }

  private async resolve(choice: RuntimeChoice, refresh: boolean, say: (line: string) => void): Promise<NodeRuntime> {
    if (choice.kind === 'configured') {
      const version = (await this.configuredVersion(choice.path)).replace(/^v/, '');
      return { name: choice.name, major: semver.major(version), version, nodePath: choice.path, headersDir: headersPrefix(choice.path), source: 'configured' };
    }
    const major = effectiveMajor(choice);
    if (major === HOST_MAJOR) return { ...this.host(), name: choice.name };
    const pkg = platformPackage();
    const installed = listInstalled(this.o.root, pkg).filter((r) => r.major === major);
    let release: InstalledRuntime | undefined = refresh ? undefined : installed[0];
    if (!release) {
      let newest: Release;
      try {
        newest = await this.newest(pkg, major);
      } catch (err) {
        if (!(err instanceof RegistryUnreachable)) throw err;
        if (!installed[0]) throw invalidRuntime(`Node ${major} is not installed, and ${err.message}`);
        say(`${capitalise(err.message)}; using the installed Node ${installed[0].version}`);
        newest = { version: installed[0].version, integrity: '' };
      }
      release = installed.find((r) => r.version === newest.version);
      if (!release) {
        say(installed[0]
          ? `Node ${newest.version} is newer than the installed ${installed[0].version}: installing it from the npm registry (${pkg}@${newest.version})`
          : `Node ${major} is not installed yet: installing ${newest.version} from the npm registry (${pkg}@${newest.version}, integrity-checked)`);
        const started = Date.now();
        release = await this.install(pkg, newest);
        say(`Installed Node ${release.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    }
    // As root, replicas and builds run as other accounts: they must be able to run it.
    const unreachable = runsAsRoot() ? unreachableByOthers(release.nodePath) : undefined;
    if (unreachable) throw invalidRuntime(`Node ${release.version} is installed but replicas could not run it: ${unreachable}`);
    markUsed(this.o.root, release.dir);
    this.acquired.set(release.nodePath, Date.now());
    return { name: choice.name, major, version: release.version, nodePath: release.nodePath, headersDir: release.dir, source: 'registry' };
  }

  private newest(pkg: string, major: number): Promise<Release> {
    return newestRelease(pkg, major, { registry: this.o.registry, cache: join(this.o.root, '.cache') });
  }

  /** One install per release at a time in this process (two environments deploying at once wait on one download). */
  private install(pkg: string, release: Release): Promise<InstalledRuntime> {
    let pending = this.installing.get(release.version);
    if (!pending) {
      pending = installRelease(this.o.root, pkg, release, { registry: this.o.registry }).finally(() => this.installing.delete(release.version));
      this.installing.set(release.version, pending);
    }
    return pending;
  }

  /** A configured executable's `--version`, once per path. */
  private async configuredVersion(path: string): Promise<string> {
    let probe = this.probed.get(path);
    if (!probe) this.probed.set(path, probe = probeVersion(path));
    const version = await probe;
    if (!semver.valid(version)) {
      this.probed.delete(path);
      throw invalidRuntime(`the Node executable configured at ${path} does not run (${version})`);
    }
    return version;
  }
}

/** The Node flexd itself runs on, as a runtime: its major needs no download. */
export function hostRuntime(): NodeRuntime {
  return { name: runtimeName(HOST_MAJOR), major: HOST_MAJOR, version: process.versions.node, nodePath: process.execPath, headersDir: headersPrefix(process.execPath), source: 'host' };
}

/** One line for the job's progress: which Node actually runs, and why that one. */
function describeChoice(choice: RuntimeChoice, runtime: NodeRuntime): string {
  const source = runtime.source === 'host' ? 'the Node flexd runs on' : runtime.source === 'configured' ? `configured at ${runtime.nodePath}` : 'from the npm registry';
  const legacy = choice.kind === 'major' && choice.legacy ? ` (Kinvey's Node ${choice.major}, mapped to Node ${choice.legacy.major})` : '';
  return `Runtime ${choice.name}${legacy} runs on Node ${runtime.version} (${source})`;
}

/** The prefix of a Node install whose `include/node` holds its headers (`/usr` for /usr/bin/node), if it has them. */
export function headersPrefix(nodePath: string): string | undefined {
  try {
    const prefix = dirname(dirname(realpathSync(nodePath)));
    return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : undefined;
  } catch {
    return undefined;
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
