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

export interface DeployDirectoryOptions {
  /** the service's name (or id); created when it does not exist */
  service: string;
  /** the environment's name (or id); created when it does not exist */
  environment: string;
  /** the environment's shared secret (X-Auth-Key); set when the environment is created or changed */
  secret?: string;
  /** environment variables: replaces the environment's set */
  env?: Record<string, string>;
  /**
   * The Node major to run on (`node22`, `flex-runtime-node24`…; docs/runtimes.md); installed from
   * the npm registry on first use. Absent: the environment keeps its runtime (a new one gets the default).
   */
  runtime?: string;
  /**
   * Deploy as this version (semver) instead of package.json's: a test can deploy the same folder
   * again (`version: '1.0.1'`). It must still be above every version deployed before. The
   * project's files are not changed; the service's own `require('./package.json').version` is.
   */
  version?: string;
}

/** A finished deploy job, as `GET /v4/jobs/:id` describes it. */
export interface DeployJob {
  id: string;
  type: 'deployService' | 'recycleService' | 'rollbackService';
  serviceId: string | null;
  environmentId: string | null;
  status: 'QUEUED' | 'BUILDING' | 'DEPLOYING' | 'COMPLETED' | 'ERROR';
  /** the job's progress lines, newline-separated */
  progress: string;
  params: Record<string, unknown>;
  userEmail: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface LogsQuery {
  service: string;
  environment: string;
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

/** A running flexd, from `createRuntime()`. */
export interface Runtime {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** the admin this start created with a generated password (`generateAdminPassword`): show it to the operator, once */
  readonly generatedAdmin?: { email: string; password: string };
  /**
   * Deploys a project folder through the same pipeline as an upload; resolves once the new
   * version serves, rejects with the job's error.
   * @example await rt.deployDirectory('./my-service', { service: 'orders', environment: 'Development', secret: 's3cret' })
   */
  deployDirectory(dir: string, options: DeployDirectoryOptions): Promise<DeployJob>;
  /**
   * The newest lines the environment's replicas wrote (stdout and stderr), oldest first,
   * including those still on their way to the database.
   * @example const lines = await rt.logs({ service: 'orders', environment: 'Development', limit: 20 });
   */
  logs(query: LogsQuery): Promise<LogLine[]>;
  /** Stops taking requests, drains, stops every replica, closes the database. */
  close(): Promise<void>;
}
