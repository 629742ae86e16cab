/**
 * Every timeout, cap and interval flexd uses, with its unit and the reason for its value.
 * `createRuntime` options override them; `flexd serve` reads the same from flags and env vars.
 * Tests inject small values so faults and backoffs play out in milliseconds.
 */
export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './.flexd',
  /** the hosted runtime's promise: requests complete within 60 s; we answer before the caller gives up */
  requestTimeoutMs: 50_000,
  /** loading the project's modules + the service's top-level work */
  readyTimeoutMs: 30_000,
  /** SIGTERM → this grace → SIGKILL (Kubernetes 30 s, OTP 5 s, PM2 1.6 s) */
  stopGraceMs: 10_000,
  /** an environment with no request for this long drops to zero replicas; the hosted runtime never idled under 4 h; 0 = never */
  idleTimeoutMs: 4 * 60 * 60_000,
  /** per replica: --max-old-space-size gets 75 % of it, the RSS watchdog the whole */
  memoryLimitMb: 256,
  /**
   * The most all environments together may hold: the sum of maxReplicas × memoryLimitMb
   * (supervisor/memory-budget.ts). 0 = the machine's physical memory less max(1 GiB, 10 %).
   */
  memoryBudgetMb: 0,
  /** how often the RSS watchdog reads each replica's resident memory (PM2 polls every 30 s: too slow for a Buffer leak) */
  memoryCheckIntervalMs: 1_000,
  /** a replica that does not answer a ping within `livenessTimeoutMs` is frozen and gets replaced */
  livenessIntervalMs: 5_000,
  livenessTimeoutMs: 5_000,
  /** restart backoff: first restart immediate, then doubling from the base up to the max; reset after healthy for resetMs */
  restartBackoffBaseMs: 250,
  restartBackoffMaxMs: 30_000,
  restartBackoffResetMs: 60_000,
  /** more than crashBudget crashes within crashWindowMs suspends the environment (systemd: 5 in 10 s) */
  crashBudget: 5,
  crashWindowMs: 60_000,
  /** how long a 503 for a suspended environment tells clients to wait */
  retryAfterSeconds: 30,
  /** replicas per environment */
  minReplicas: 1,
  maxReplicas: 1,
  /** scale up when in-flight requests per replica pass this */
  scaleUpInFlight: 8,
  /**
   * Keep one spare per environment whose replicas leave a slot free (idled to zero, below
   * maxReplicas): spawned exactly as a replica is, Node and flexd's child runtime booted, the
   * project not yet run. A cold start, a scale-up or a recycle takes it instead of spawning
   * (supervisor/pool.ts). It takes that free slot of the environment's memory reservation.
   * Off by default: idle eviction means no process at all (docs/architecture.md).
   */
  spareReplica: false,
  /** an extra replica (above the minimum) idle for this long is stopped */
  scaleDownIdleMs: 60_000,
  /** a replica takes at most this many tasks at once; more wait in the environment's queue */
  maxInFlightPerReplica: 64,
  /** requests waiting for a replica beyond this are refused at once with 503 */
  maxQueue: 1_000,
  /** the SDK's receiver limit (body-parser limit 26214400) */
  bodyLimitBytes: 25 * 1024 * 1024,
  /** kinvey-cli refuses to send more than 10 MiB; unpacked and entry caps stop archive bombs */
  maxArchiveBytes: 10 * 1024 * 1024,
  maxUnpackedBytes: 200 * 1024 * 1024,
  maxArchiveEntries: 20_000,
  /** the hosted runtime kept 100 MB of logs per service */
  logRingBytes: 100 * 1024 * 1024,
  /** log lines are written in batches: at most this often, or when this many are waiting */
  logFlushIntervalMs: 100,
  logFlushMaxLines: 2_000,
  /** lines of a replica's output kept to explain a failed start */
  startupTailLines: 40,
  /** `npm install` for one deploy */
  installTimeoutMs: 5 * 60_000,
  /** npm's cache for builds, owned by the build account; '' = `<dataDir>/build/npm-cache`. Runtimes may share one */
  npmCacheDir: '',
  /**
   * Where each runtime makes its run folder (replicas' folders, the child entry); '' =
   * `<dataDir>/run`. Run folders of runtimes that died are removed by the next runtime that
   * starts with the same runDir or data dir (src/supervisor/run-dir.ts).
   */
  runDir: '',
  /**
   * How a replica gets its project folder as its working directory with private writes
   * (src/supervisor/replica-folder.ts): 'overlay' (a mount namespace), 'copy' (a private copy
   * per replica), or 'auto': overlay where the system allows it, else copy.
   */
  replicaFolder: 'auto',
  /** management sessions expire */
  sessionTtlMs: 14 * 24 * 60 * 60_000,
  /** live sessions one account keeps; a new login ends its oldest beyond this (a script logging in on every run) */
  maxSessionsPerUser: 20,
  /**
   * Login throttling: more failed logins than this for one account, or from one address, within
   * loginThrottleWindowMs are answered 429 with Retry-After, without checking the password. An
   * account's count resets when it logs in. 10 per 15 min lets a person mistype; it holds a guesser
   * to 40 a hour. An address gets more, as a team may share one (a NAT, a reverse proxy).
   */
  loginFailuresPerAccount: 10,
  loginFailuresPerAddress: 30,
  loginThrottleWindowMs: 15 * 60_000,
  /**
   * scrypt's cost for new password hashes, as log2 N (r = 8, p = 1): 15 is 32 MiB and ~100 ms of CPU
   * per hash and per login. Each hash keeps its own cost, so a change applies to hashes made after
   * it. 10 to 20; below 15 only for throwaway runtimes (tests, where every runtime hashes its admin).
   */
  passwordHashCost: 15,
  /**
   * Behind a reverse proxy every client has the proxy's address: with this set, a client's
   * address (for the login throttle) is the last X-Forwarded-For entry, the one the proxy added.
   * Off by default: without a proxy, anyone could send the header.
   */
  trustProxy: false,
  /**
   * Node ≥ 15 makes an unhandled promise rejection fatal; the hosted Node 6–12 runtimes only
   * warned, and services written for them rely on it. An environment may opt in to the strict mode.
   */
  strictUnhandledRejections: false,
  /**
   * Replicas run under Node's permission model (--experimental-permission): they read only their
   * project folder and flexd's child entry, write only their working directory, and cannot start
   * processes or use WASI (native addons only when the version ships one). An environment whose
   * service needs more sets it to false; the account walls (as root) still hold (docs/security.md).
   */
  permissionModel: true,
  /** slowloris: headers must arrive within this */
  headersTimeoutMs: 20_000,
  /**
   * A request's headers and whole body must arrive within this (Node's requestTimeout), or it
   * is answered 408 and its connection closed: a 25 MiB body needs about 440 KB/s.
   */
  bodyTimeoutMs: 60_000,
  /**
   * Open connections beyond this get 503 with Retry-After on their request and are closed; past
   * it by another 10 % they are dropped when they connect (no answer is possible).
   */
  maxConnections: 1_000,
  /** the request bodies held in memory at once, across all requests; past it a body gets 503 with Retry-After */
  maxBufferedBodyBytes: 256 * 1024 * 1024,
  /**
   * As root, untrusted code runs as numeric accounts from this range (src/isolation/accounts.ts):
   * the first is the build account, each environment gets its own after it. Pick a range no host
   * account uses (subordinate-id ranges in /etc/subuid usually start at 100000).
   */
  uidRangeStart: 420_000,
  uidRangeSize: 10_000,
  /**
   * Several nodes (docs/scale-out.md): `postgres://USER:PASS@HOST:PORT/DB` keeps everything durable
   * in that PostgreSQL, shared by every node; '' = SQLite in the data dir (one node).
   */
  database: '',
  /** this node's name among the nodes of one database; '' = the host name. Unique among live nodes */
  nodeName: '',
  /** how often a node records that it is alive (on the database's clock) */
  nodeHeartbeatMs: 5_000,
  /** a node whose last heartbeat is older than this is not live (`GET /v4/nodes`); its name is free again */
  nodeLiveWindowMs: 15_000,
  /**
   * How long a node's claim on a job holds without being renewed (every third of it, while the job
   * runs). A node that dies loses its jobs this long after its last renewal; another live node
   * then retakes them from the start (docs/scale-out.md, "Jobs").
   */
  jobLeaseMs: 15_000,
  /** how often a node looks for jobs whose lease ran out (a hint from a node that gives jobs up wakes it sooner) */
  jobPollMs: 5_000,
  /** a job claimed this many times (its nodes died running it each time) is not retaken again: it ends in ERROR */
  jobMaxAttempts: 3,
  /**
   * The runtime of an environment that chose none (`node22`, `flex-runtime-node22`); '' = the
   * major flexd itself runs on, which needs no download (docs/runtimes.md).
   */
  defaultRuntime: '',
  /**
   * Kinvey's old runtime names and the Node major each runs on, `node6=20,node12=22`; a name left
   * out runs on the oldest major flexd supports (20).
   */
  legacyRuntimes: '',
  /** where Node releases from the npm registry are installed; '' = `<dataDir>/runtimes`. Several flexd may share one */
  runtimesDir: '',
  /** the npm registry Node releases come from; '' = npm's configured registry (npm_config_registry), else the public one */
  runtimeRegistry: '',
  /**
   * A Node release from the registry nothing has used for this long is removed (runtimes/sweep.ts):
   * an older patch once every replica moved on, a major no environment runs any more. Checked every
   * quarter of it (at most hourly). 0 = never removed
   */
  unusedRuntimeGraceMs: 24 * 60 * 60_000,
} as const;

export type Settings = {
  -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends number ? number : (typeof DEFAULTS)[K] extends boolean ? boolean : string
};

/** The knobs an environment may override for itself (SPEC §5). */
export const ENVIRONMENT_SETTINGS = [
  'requestTimeoutMs', 'idleTimeoutMs', 'memoryLimitMb', 'minReplicas', 'maxReplicas', 'strictUnhandledRejections', 'permissionModel',
] as const;
export type EnvironmentSettings = Partial<Pick<Settings, (typeof ENVIRONMENT_SETTINGS)[number]>>;

const REPLICA_FOLDER_MODES: readonly string[] = ['auto', 'overlay', 'copy'];
/** passwordHashCost's range: 2^10 is 1 MiB and ~1 ms per hash; 2^20 is 1 GiB. */
const MIN_PASSWORD_HASH_COST = 10;
const MAX_PASSWORD_HASH_COST = 20;

export function resolveSettings(overrides: Partial<Settings> = {}): Readonly<Settings> {
  const settings = { ...DEFAULTS } as Settings;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in DEFAULTS)) throw new TypeError(`unknown setting "${key}"`);
    const expected = typeof DEFAULTS[key as keyof Settings];
    if (typeof value !== expected || (expected === 'number' && !(Number.isFinite(value) && (value as number) >= 0))) {
      throw new TypeError(`setting "${key}" must be a ${expected === 'number' ? 'non-negative number' : expected}, got ${JSON.stringify(value)}`);
    }
    (settings as Record<string, unknown>)[key] = value;
  }
  if (!REPLICA_FOLDER_MODES.includes(settings.replicaFolder)) {
    throw new TypeError(`setting "replicaFolder" must be one of ${REPLICA_FOLDER_MODES.join(', ')}, got ${JSON.stringify(settings.replicaFolder)}`);
  }
  if (!Number.isInteger(settings.passwordHashCost) || settings.passwordHashCost < MIN_PASSWORD_HASH_COST || settings.passwordHashCost > MAX_PASSWORD_HASH_COST) {
    throw new TypeError(`setting "passwordHashCost" must be an integer from ${MIN_PASSWORD_HASH_COST} to ${MAX_PASSWORD_HASH_COST} (log2 of scrypt's N), got ${JSON.stringify(settings.passwordHashCost)}`);
  }
  if (settings.maxReplicas < settings.minReplicas) settings.maxReplicas = settings.minReplicas;
  return Object.freeze(settings);
}
