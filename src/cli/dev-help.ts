import { DEFAULTS } from '../config.ts';

/**
 * `flexd dev --help`. Apart from dev.ts, which starts a runtime and a watcher, so that `flexd help`
 * and the command list (commands/dev.ts) print it without loading their modules.
 */
export const DEV_HELP = `Usage: flexd dev [dir] [options]

Serves the Flex project in dir (default .) in place, with its own node_modules, prints what it
writes, and redeploys it each time a file changes. Ctrl-C stops it.

  -s, --service NAME     the service's name in the URL (default: package.json's name, else the folder's)
  -e, --environment NAME the environment's name (default Development)
  --secret SECRET        the shared secret requests must send as X-Auth-Key (default: none, every request is answered)
  --var NAME=VALUE       an environment variable (repeatable)
  --runtime NAME         the Node major to run it on: node20, node22, node24… (default: the Node flexd runs on);
                         installed from the npm registry on first use, as a deploy's (docs/runtimes.md)
  --runtimes-dir DIR     where such releases are kept (FLEXD_RUNTIMES_DIR; default DATA_DIR/runtimes:
                         with the temporary data dir, give one so a release is not downloaded every run)
  --host HOST --port N   where to listen (default ${DEFAULTS.host}:${DEFAULTS.port}; --port 0 = any free port)
  --data-dir DIR         keep flexd's data here (default: a temporary folder, removed on exit)
  --log-format FORMAT    text (default) or json: every line printed, the service's and flexd's,
                         one JSON object (FLEXD_LOG_FORMAT)`;
