import { DEFAULTS } from '../config.ts';

/**
 * `flexd serve --help`. Apart from serve.ts, which starts the runtime, so that `flexd help` and
 * the command list (commands/serve.ts) print it without loading the runtime's modules.
 */
export const SERVE_HELP = `Usage: flexd serve [options]

  --host HOST            listen address (FLEXD_HOST, default ${DEFAULTS.host})
  --port PORT            port; 0 = any free port (FLEXD_PORT, default ${DEFAULTS.port})
  --data-dir DIR         everything flexd writes: database, builds, replicas' folders (FLEXD_DATA_DIR, default ${DEFAULTS.dataDir})
  --run-dir DIR          replicas' folders elsewhere than <data dir>/run (FLEXD_RUN_DIR)
  --tls-cert FILE        serve HTTPS with this certificate (FLEXD_TLS_CERT)
  --tls-key FILE         ... and this key (FLEXD_TLS_KEY)
  --request-timeout-ms N (default ${DEFAULTS.requestTimeoutMs})   --idle-timeout-ms N (default ${DEFAULTS.idleTimeoutMs}, 0 = never)
  --memory-limit-mb N    (default ${DEFAULTS.memoryLimitMb})      --log-ring-bytes N (default ${DEFAULTS.logRingBytes})
  --memory-budget-mb N  what all environments together may hold, maxReplicas × memoryLimitMb summed
                         (FLEXD_MEMORY_BUDGET_MB, default: physical memory less max(1 GiB, 10 %))
  --min-replicas N --max-replicas N --max-queue N --crash-budget N --crash-window-ms N ...
  --spare-replica BOOL   keep a booted spare where an environment has a free replica slot, for fast cold starts
                         (FLEXD_SPARE_REPLICA, default false: an idled environment keeps no process)
  --trust-proxy          behind a reverse proxy: take the client's address from X-Forwarded-For (FLEXD_TRUST_PROXY)
  --uid-range-start N    as root: the first uid of this flexd's range (FLEXD_UID_RANGE_START, default ${DEFAULTS.uidRangeStart},
  --uid-range-size N     moved up past ranges other flexd processes hold); and its size (default ${DEFAULTS.uidRangeSize}).
                         A range given that overlaps another flexd's is refused (docs/security.md)
  --default-runtime R    what an environment that chose no runtime runs: node20, node22, node24…
                         (FLEXD_DEFAULT_RUNTIME, default: the major flexd runs on, so nothing is downloaded)
  --legacy-runtimes T    Kinvey's old names and the major each runs on, e.g. node10=20,node12=22
                         (FLEXD_LEGACY_RUNTIMES, default: all on 20)
  --runtimes-dir DIR     where Node releases from the npm registry are installed (default DATA_DIR/runtimes)
  --runtime-registry URL the npm registry Node releases come from (default: npm's configured registry)
  --unused-runtime-grace-ms N  a Node release nothing used for this long is removed (default a day; 0 = never)
  --npm-cache-dir DIR    npm's cache for builds (FLEXD_NPM_CACHE_DIR, default DATA_DIR/build/npm-cache); runtimes may share one
  --runtime NAME=NODE    run environments of runtime NAME with this node executable (repeatable)
  --log-format FORMAT    flexd's event lines on stderr: text (default) or json, one object per line (FLEXD_LOG_FORMAT)
  --metrics-token TOKEN  a token Prometheus may scrape GET /metrics with (FLEXD_METRICS_TOKEN); sessions work too
  --password-hash-cost N scrypt's cost (log2 N) of new password hashes, 10 to 20 (FLEXD_PASSWORD_HASH_COST, default ${DEFAULTS.passwordHashCost};
                         below 15 only for throwaway runtimes)
  --database URL         several nodes on one PostgreSQL: postgres://USER:PASS@HOST:PORT/DB (FLEXD_DATABASE_URL);
                         default: SQLite in the data dir (docs/scale-out.md)
  --node-name NAME       this node's name among the database's nodes (FLEXD_NODE_NAME, default: the host name)

Every flag is also an environment variable: FLEXD_ and the flag in upper case (FLEXD_REQUEST_TIMEOUT_MS).
The first start creates an admin: FLEXD_ADMIN_EMAIL and FLEXD_ADMIN_PASSWORD, or a generated password printed once.
See docs/configuration.md.`;
