import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../config.ts';
import { checkWatch } from '../embedding/arguments.ts';
import { watchedEnvironment } from '../embedding/calls.ts';
import { FolderWatch } from '../embedding/watch.ts';
import { visibleControls } from '../logs/visible-text.ts';
import { createRuntime } from '../runtime.ts';
import { DEV_HELP } from './dev-help.ts';
import { findLauncher, watchLauncher } from './launcher-watch.ts';
import { stopOnSignals } from './serve.ts';
import { requestedLogFormat, ServeLines } from './serve-lines.ts';

/**
 * `flexd dev [dir]`: the edit–test loop (issue 20). A runtime on a temporary data dir serves
 * the folder in place — its own files and node_modules — prints what the service writes, and
 * redeploys on every save; Ctrl-C stops the replicas and removes the temporary data dir.
 *
 * What it prints — the service's output on stdout, its own `flexd dev: …` lines and the stop
 * lines on stderr — follows `--log-format` (serve-lines.ts): as text, the service's control
 * characters show as visible escapes (logs/visible-text.ts); under json every line of both
 * streams is one JSON object, the service's lines with `"source": "service"`.
 */
const FLAGS = {
  service: { type: 'string', short: 's' }, environment: { type: 'string', short: 'e' }, secret: { type: 'string' },
  var: { type: 'string', multiple: true }, host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' },
  'log-format': { type: 'string' }, runtime: { type: 'string' }, 'runtimes-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function dev(argv: string[]): Promise<void> {
  const lines = new ServeLines(requestedLogFormat(argv, process.env));
  lines.captureWarnings();
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: true });
  if (values.help) {
    console.log(DEV_HELP);
    return;
  }
  const format = values['log-format'] ?? process.env.FLEXD_LOG_FORMAT;
  if (format !== undefined && format !== '' && format !== 'text' && format !== 'json') throw new Error(`--log-format must be text or json, got "${format}"`);
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
    ...(values.runtime !== undefined ? { runtime: values.runtime } : {}),
    onOutput: (line: string) => (lines.format === 'json' ? lines.out(line, { source: 'service' }) : lines.out(visibleControls(line))),
  });

  const temporary = values['data-dir'] === undefined ? await mkdtemp(join(tmpdir(), 'flexd-dev-')) : undefined;
  const runtimesDir = values['runtimes-dir'] ?? process.env.FLEXD_RUNTIMES_DIR;
  const runtime = await createRuntime({
    dataDir: values['data-dir'] ?? temporary, port, ...(values.host ? { host: values.host } : {}), ...(runtimesDir ? { runtimesDir } : {}),
  });
  const url = `${runtime.url}/flex/${encodeURIComponent(options.service)}/${encodeURIComponent(options.environment)}`;
  // As text `flexd dev: …` as before; its text may quote the service (a failed start's first error line).
  const say = (level: 'info' | 'error', text: string, fields: Record<string, unknown> = {}) => (lines.format === 'json'
    ? lines.err(level, visibleControls(text), fields)
    : process.stderr.write(`flexd dev: ${visibleControls(text)}\n`));
  const watch = new FolderWatch(runtime.context, await watchedEnvironment(runtime.context, options), {
    ...options,
    onDeploy: (o) => (o.ok
      ? say('info', `redeployed version ${o.version} in ${o.durationMs} ms`, { version: o.version, durationMs: o.durationMs })
      : say('error', `${o.error!.code}: ${o.error!.message} (the previous version keeps serving)`, { code: o.error!.code })),
  }, new Set());
  const stop = async () => {
    await watch.close();
    await runtime.close();
    if (temporary) await rm(temporary, { recursive: true, force: true });
  };
  const stopper = stopOnSignals(stop, { say: (text, level, fields) => lines.err(level, text, fields) });
  process.on('SIGINT', () => stopper.signal('SIGINT'));
  process.on('SIGTERM', () => stopper.signal('SIGTERM'));
  // `npx flexd dev`: stop when npx goes away, as flexd serve does (launcher-watch.ts)
  const launcher = findLauncher(process.env);
  if (launcher) watchLauncher(launcher, (pid) => stopper.launcherGone(`npm (pid ${launcher.npmPid}), which started flexd, has ended (pid ${pid})`));
  const first = await watch.start({ keepWatching: true });
  if (first.ok) say('info', `serving ${dir} (version ${first.version}) at ${url} on Node ${first.node}`, { dir, version: first.version, url, node: first.node });
  else say('error', `${first.error!.code}: ${first.error!.message}; watching ${dir} for a fix`, { dir, code: first.error!.code, url });
  say('info', 'watching for changes; Ctrl-C stops');
}

/** The service's name in the URL: package.json's name (without a scope), else the folder's. */
async function defaultServiceName(dir: string): Promise<string> {
  try {
    const name = (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name.replace(/^@[^/]+\//, '');
  } catch { /* no or bad package.json: the first deploy says so */ }
  return basename(dir);
}
