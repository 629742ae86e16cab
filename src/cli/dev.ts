import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../config.ts';
import { checkWatch } from '../embedding/arguments.ts';
import { ensureEnvironment } from '../embedding/calls.ts';
import { FolderWatch } from '../embedding/watch.ts';
import { createRuntime } from '../runtime.ts';
import { findLauncher, watchLauncher } from './launcher-watch.ts';
import { stopOnSignals } from './serve.ts';

/**
 * `flexd dev [dir]`: the edit–test loop (issue 20). A runtime on a temporary data dir serves
 * the folder in place — its own files and node_modules — prints what the service writes, and
 * redeploys on every save; Ctrl-C stops the replicas and removes the temporary data dir.
 */
const FLAGS = {
  service: { type: 'string', short: 's' }, environment: { type: 'string', short: 'e' }, secret: { type: 'string' },
  var: { type: 'string', multiple: true }, host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DEV_HELP = `Usage: flexd dev [dir] [options]

Serves the Flex project in dir (default .) in place, with its own node_modules, prints what it
writes, and redeploys it each time a file changes. Ctrl-C stops it.

  -s, --service NAME     the service's name in the URL (default: package.json's name, else the folder's)
  -e, --environment NAME the environment's name (default Development)
  --secret SECRET        the shared secret requests must send as X-Auth-Key (default: none, every request is answered)
  --var NAME=VALUE       an environment variable (repeatable)
  --host HOST --port N   where to listen (default ${DEFAULTS.host}:${DEFAULTS.port}; --port 0 = any free port)
  --data-dir DIR         keep flexd's data here (default: a temporary folder, removed on exit)`;

export async function dev(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: true });
  if (values.help) {
    console.log(DEV_HELP);
    return;
  }
  if (positionals.length > 1) throw new Error(`flexd dev takes one folder, not ${positionals.length}`);
  const dir = resolve(positionals[0] ?? '.');
  const port = values.port === undefined ? DEFAULTS.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got "${values.port}"`);
  const env: Record<string, string> = {};
  for (const pair of values.var ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--var must look like NAME=VALUE, got "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const options = checkWatch(dir, {
    service: values.service ?? await defaultServiceName(dir), environment: values.environment ?? 'Development',
    ...(values.secret !== undefined ? { secret: values.secret } : {}), ...(values.var ? { env } : {}),
    onOutput: (line: string) => process.stdout.write(`${line}\n`),
  });

  const temporary = values['data-dir'] === undefined ? await mkdtemp(join(tmpdir(), 'flexd-dev-')) : undefined;
  const runtime = await createRuntime({ dataDir: values['data-dir'] ?? temporary, port, ...(values.host ? { host: values.host } : {}) });
  const url = `${runtime.url}/flex/${encodeURIComponent(options.service)}/${encodeURIComponent(options.environment)}`;
  const say = (line: string) => process.stderr.write(`flexd dev: ${line}\n`);
  const watch = new FolderWatch(runtime.context, await ensureEnvironment(runtime.context, options), {
    ...options,
    onDeploy: (o) => say(o.ok ? `redeployed version ${o.version} in ${o.durationMs} ms` : `${o.error!.code}: ${o.error!.message} (the previous version keeps serving)`),
  }, new Set());
  const stop = async () => {
    await watch.close();
    await runtime.close();
    if (temporary) await rm(temporary, { recursive: true, force: true });
  };
  const stopper = stopOnSignals(stop, { say: (text) => process.stderr.write(`flexd: ${text}\n`) });
  process.on('SIGINT', () => stopper.signal('SIGINT'));
  process.on('SIGTERM', () => stopper.signal('SIGTERM'));
  // `npx flexd dev`: stop when npx goes away, as flexd serve does (launcher-watch.ts)
  const launcher = findLauncher(process.env);
  if (launcher) watchLauncher(launcher, (pid) => stopper.launcherGone(`npm (pid ${launcher.npmPid}), which started flexd, has ended (pid ${pid})`));
  const first = await watch.start({ keepWatching: true });
  say(first.ok ? `serving ${dir} (version ${first.version}) at ${url}` : `${first.error!.code}: ${first.error!.message}; watching ${dir} for a fix`);
  say('watching for changes; Ctrl-C stops');
}

/** The service's name in the URL: package.json's name (without a scope), else the folder's. */
async function defaultServiceName(dir: string): Promise<string> {
  try {
    const name = (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name.replace(/^@[^/]+\//, '');
  } catch { /* no or bad package.json: the first deploy says so */ }
  return basename(dir);
}
