/**
 * The types of flexd's public surface (SPEC §7, STYLE.md 11): what `import … from 'flexd'`
 * mentions. This file imports nothing but config.ts (plain values), so the published `.d.ts`
 * never reaches a dependency's types (better-sqlite3's, pino's, Node's) that a consumer may not
 * have installed.
 */
import type { Settings } from './config.ts';

/**
 * Where flexd writes its own event lines (start, deploys, replica exits…). pino's shape: any
 * object with these four methods works (pino itself, or a test's recorder).
 */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export type LogFormat = 'text' | 'json';

export interface RuntimeOptions extends Partial<Settings> {
  /** where the SQLite database and cached builds live; default ./.flexd */
  dataDir?: string;
  /**
   * A data dir of its own in the OS temp dir, removed by close(); one whose runtime died without
   * closing (kill -9) is removed by the next runtime that starts. For tests. Not with `dataDir`.
   */
  temporary?: boolean;
  /** serve HTTPS with this certificate and key (PEM file paths) */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * The first start (a data dir without accounts) creates this admin. Without a password no
   * account is made — an embedded runtime needs none — unless `generateAdminPassword` is set.
   * Once accounts exist these change nothing (a different password is reported on the logger).
   */
  adminEmail?: string;
  adminPassword?: string;
  /** with no adminPassword and no account yet: create the admin with a generated password, returned once in `generatedAdmin` (what `flexd serve` does) */
  generateAdminPassword?: boolean;
  /** Node executables for runtime names beyond flex-runtime-node6…12 */
  runtimes?: Record<string, string>;
  /** where flexd's own event lines go (start, deploys, replica exits…); default: nowhere */
  logger?: Logger;
  /** shorthand for a logger: `stderr` writes flexd's event lines to stderr; default `silent` */
  log?: 'stderr' | 'silent';
  /** with `log: 'stderr'`: `text` (default) or `json` (one object per line) */
  logFormat?: LogFormat;
  /** a token Prometheus may scrape `GET /metrics` with, besides any account's session */
  metricsToken?: string;
}

/** Which environment a call is about: the service's and the environment's names (or ids). */
export interface Target {
  service: string;
  environment: string;
}

export interface DeployDirectoryOptions extends Target {
  /**
   * The environment's shared secret (X-Auth-Key), at least 2 characters: set when the
   * environment is created, changed when given again. **Without one the environment has no
   * secret and the data plane answers requests without X-Auth-Key** (as `node .` does locally);
   * an existing environment keeps the secret it has.
   */
  secret?: string;
  /** environment variables: replaces the environment's set */
  env?: Record<string, string>;
  /**
   * The Node major to run on (`node22`, `flex-runtime-node24`…; docs/runtimes.md); installed from
   * the npm registry on first use. Absent: the environment keeps its runtime (a new one gets the default).
   */
  runtime?: string;
  /**
   * Deploy as this version (semver) instead of package.json's: it must be above every version
   * deployed before. `'auto'`: package.json's version when it is above them, else the next patch
   * above the newest — a test redeploys the same folder without a counter. The project's files
   * are not changed; the service's own `require('./package.json').version` is.
   */
  version?: string | 'auto';
}

export interface WatchOptions extends Target {
  /** as deployDirectory's */
  secret?: string;
  /** as deployDirectory's */
  env?: Record<string, string>;
  /** each line the service writes (stdout and stderr) */
  onOutput?: (line: string) => void;
  /** after each redeploy (a save): whether it serves, or why not (the previous one keeps serving) */
  onDeploy?: (outcome: WatchOutcome) => void;
  /** how long the folder must be quiet after a change before it is redeployed; default 50 ms */
  debounceMs?: number;
  /**
   * as deployDirectory's: the Node major the folder runs on (`'node22'`, `'flex-runtime-node24'`…),
   * kept as the environment's runtime; default the environment's own, else flexd's default
   */
  runtime?: string;
}

/** What became of one redeploy of a watched folder. */
export interface WatchOutcome {
  ok: boolean;
  /** the version now serving (the folder's package.json version) */
  version?: string;
  /** why it did not start: a FlexdError (`StartFailed`, `InvalidProject`…) */
  error?: FlexdErrorShape;
  /** from the change to the new replicas serving (or failing); the old ones drain after that */
  durationMs: number;
  /** the Node version the folder's replicas run on (`22.23.5`), once known */
  node?: string;
}

/** A folder served in place and redeployed on every save, from `rt.watch()`. */
export interface Watcher {
  /** the folder's version now serving */
  readonly version: string | undefined;
  /** Resolves with the outcome of the next redeploy (after the next change). */
  nextDeploy(): Promise<WatchOutcome>;
  /** Stops watching and stops the folder's replicas. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The shape of the errors flexd rejects with (the class is the `FlexdError` export). */
export interface FlexdErrorShape extends Error {
  /** stable: docs/errors.md lists them */
  readonly code: string;
  /** the HTTP status the management API would answer with */
  readonly status: number;
  /** details: the job's progress, a failed start's output */
  readonly debug: string;
}

/** One replica of an environment. */
export interface ReplicaStatus {
  /** 12 hex characters; the `containerId` of its log lines */
  containerId: string;
  version: string;
  state: 'starting' | 'ready' | 'stopping' | 'exited';
  inFlight: number;
  pid: number | undefined;
}

/** An environment's state, as `flexd status` shows it. */
export interface EnvironmentStatus {
  /** NEW: never deployed; UPDATING: a deploy, recycle or rollback runs; ONLINE: serving; ERROR: cannot serve (`reason`) */
  status: 'NEW' | 'UPDATING' | 'ONLINE' | 'ERROR';
  /** the version serving, if any */
  version: string | null;
  /** the latest deploy, recycle or rollback: ERROR means it failed and the previous version (if any) serves */
  deployment: { status: 'RUNNING' | 'ERROR' | 'COMPLETED'; version: string | null } | null;
  replicas: ReplicaStatus[];
  /** why it is ERROR, or why the latest deployment failed */
  reason: string | null;
  /** the environment's variables (names and values) */
  variables: Record<string, string>;
}

/** One stored version of an environment: what rollback can choose from. */
export interface VersionInfo {
  version: string;
  /** serving now */
  active: boolean;
  /** bytes of the stored artifact */
  size: number;
  /** the kinvey-flex-sdk version it was built with */
  sdkVersion: string | null;
  /** ISO-8601 */
  createdAt: string;
}

export interface SetVariablesOptions {
  /** true: the variables become exactly `vars`; default false: `vars` are added to (or change) the existing ones */
  replace?: boolean;
}

/** A finished deploy job, as `GET /v4/jobs/:id` describes it. */
export interface DeployJob {
  id: string;
  type: 'deployService' | 'recycleService' | 'rollbackService';
  serviceId: string | null;
  environmentId: string | null;
  status: 'QUEUED' | 'BUILDING' | 'DEPLOYING' | 'COMPLETED' | 'ERROR';
  /** the version serving once the job completed */
  version: string;
  /** the job's progress lines, newline-separated */
  progress: string;
  params: Record<string, unknown>;
  userEmail: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface LogsQuery extends Target {
  /** how many of the newest lines; default 100, at most 2000 */
  limit?: number;
}

/** One line a replica wrote (the management API's log record). */
export interface LogLine {
  _id: string;
  /** the replica's id, 12 hex characters */
  containerId: string;
  /** ISO-8601 */
  timestamp: string;
  /** info/warn/error/fatal for the SDK logger's JSON lines, else null */
  threshold: string | null;
  message: string;
}

/**
 * A running flexd, from `createRuntime()`. Every call resolves once its change is in effect (the
 * replicas serve with it) and rejects with a `FlexdError` whose `code` says why
 * (docs/errors.md); after `close()` every call rejects with `RuntimeClosed`.
 */
export interface Runtime {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** the admin this start created with a generated password (`generateAdminPassword`): show it to the operator, once */
  readonly generatedAdmin?: { email: string; password: string };
  /**
   * Deploys a project folder through the same pipeline as an upload (the service and environment
   * are created when missing); resolves with the finished job once the new version serves.
   * @example await rt.deployDirectory('./my-service', { service: 'orders', environment: 'Development', secret: 's3cret', version: 'auto' })
   */
  deployDirectory(dir: string, options: DeployDirectoryOptions): Promise<DeployJob>;
  /**
   * Sets environment variables (added to the existing ones, or `{ replace: true }` for exactly
   * these) and restarts the replicas with them; resolves with the variables now in effect.
   * @example await rt.setVariables({ service: 'orders', environment: 'Development' }, { API_URL: 'http://127.0.0.1:9' })
   */
  setVariables(target: Target, vars: Record<string, string>, options?: SetVariablesOptions): Promise<Record<string, string>>;
  /**
   * Replaces the environment's replicas with fresh ones of the same version: in-memory state is gone.
   * @example await rt.recycle({ service: 'orders', environment: 'Development' })
   */
  recycle(target: Target): Promise<DeployJob>;
  /**
   * Serves a version deployed before again (nothing is rebuilt).
   * @example await rt.rollback({ service: 'orders', environment: 'Development' }, '1.0.0')
   */
  rollback(target: Target, version: string): Promise<DeployJob>;
  /**
   * Every stored version of the environment, oldest first.
   * @example const versions = await rt.versions({ service: 'orders', environment: 'Development' })
   */
  versions(target: Target): Promise<VersionInfo[]>;
  /**
   * The environment's state: serving or not, which version, its replicas.
   * @example const { status, version } = await rt.status({ service: 'orders', environment: 'Development' })
   */
  status(target: Target): Promise<EnvironmentStatus>;
  /**
   * Serves the folder in place (its own files and node_modules, nothing copied or stored) and
   * redeploys it whenever a file changes; resolves once it serves.
   * @example const watcher = await rt.watch('./my-service', { service: 'orders', environment: 'Development' })
   */
  watch(dir: string, options: WatchOptions): Promise<Watcher>;
  /**
   * The newest lines the environment's replicas wrote (stdout and stderr), oldest first,
   * including those still on their way to the database.
   * @example const lines = await rt.logs({ service: 'orders', environment: 'Development', limit: 20 });
   */
  logs(query: LogsQuery): Promise<LogLine[]>;
  /** Stops taking requests, drains, stops every replica, closes the database. */
  close(): Promise<void>;
  /** `await using rt = await createRuntime(…)`: close() when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
}

declare global {
  // What lib.esnext.disposable and @types/node declare: a project compiling for an older lib
  // still type-checks `[Symbol.asyncDispose]` (Node 20 has the symbol at run time).
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}
