/**
 * `flexd <command>` loads only what that command needs (issue 17): the command list, every
 * command's help and the commands that talk to a flexd's API never load the runtime (src/runtime.ts)
 * or any of the libraries flexd's package.json lists as its dependencies (better-sqlite3, hono,
 * chokidar, esbuild, zod, tar, …), nor Node's fetch (undici: src/cli/http.ts); `serve` and `dev`
 * load them when they run. A command loads its own file of src/cli/commands only; the command
 * list loads them all.
 *
 * Each run is `node --import test/helpers/import-recorder.mjs bin/flexd.js …` from the checkout,
 * as `npm start` runs it: the recorder logs every import with its importer, and what the CLI
 * loaded is what is reachable from src/cli/main.ts, not what tsx loads for itself (it uses esbuild).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cleanupStack } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { packageOf, readImportLog, reachable } from '../helpers/imports.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin', 'flexd.js');
const RECORDER = join(REPO, 'test', 'helpers', 'import-recorder.mjs');
const ENTRY = pathToFileURL(join(REPO, 'src', 'cli', 'main.ts')).href;
const RUNTIME = pathToFileURL(join(REPO, 'src', 'runtime.ts')).href;
/** node start-up through tsx and a few API calls, on a loaded machine */
const COMMAND_TIMEOUT_MS = 60_000;
const DEPENDENCIES = Object.keys((JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);

const cleanup = cleanupStack({ after });
let home: string;
let logDir: string;
let runs = 0;

before(async () => {
  home = await tempDir(cleanup, 'flexd-light-home-');
  logDir = await tempDir(cleanup, 'flexd-light-imports-');
});

interface RecordedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** every module reachable from src/cli/main.ts */
  loaded: Set<string>;
  /** Node's own modules the process loaded (`NativeModule internal/…`) */
  internal: string[];
}

/** Runs `flexd <args>` with the recorder; `loaded`: every module reachable from src/cli/main.ts. */
async function flexd(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RecordedRun> {
  const log = join(logDir, `run-${++runs}.jsonl`);
  const child = spawn(process.execPath, ['--import', RECORDER, BIN, ...args], {
    cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: serveEnv({ HOME: home, FLEXD_IMPORT_LOG: log, ...env }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const code = await withDeadline(`flexd ${args.join(' ')}`, new Promise<number | null>((r) => child.once('close', r)), COMMAND_TIMEOUT_MS)
    .catch((err) => { child.kill('SIGKILL'); throw err; });
  const lines = await readImportLog(log);
  return { code, stdout, stderr, loaded: reachable(lines, ENTRY), internal: lines.find((l) => l.internal)?.internal ?? [] };
}

/** The runtime and flexd's dependencies among the loaded modules, by name (src/runtime.ts, hono, …). */
function heavy(loaded: Set<string>): string[] {
  const found = new Set<string>();
  for (const url of loaded) {
    if (url === RUNTIME) found.add('src/runtime.ts');
    const pkg = packageOf(url);
    if (pkg && DEPENDENCIES.includes(pkg)) found.add(pkg);
  }
  return [...found].sort();
}

/** The command files (src/cli/commands/*.ts, not the index) among the loaded modules, by file name. */
function commandFiles(loaded: Set<string>): string[] {
  const dir = pathToFileURL(join(REPO, 'src', 'cli', 'commands')).href + '/';
  return [...loaded].filter((u) => u.startsWith(dir) && !u.endsWith('/index.ts')).map((u) => u.slice(dir.length)).sort();
}

/** Node's fetch: its implementation (undici) costs a command about 0.1 s of CPU to load (src/cli/http.ts). */
const UNDICI = 'NativeModule internal/deps/undici/undici';

function assertLight(run: RecordedRun, what: string, mustLoad: string): void {
  // the recorder saw the command's own module: an empty log would pass the check below vacuously
  assert.ok([...run.loaded].some((u) => u.endsWith(mustLoad)), `${what} loaded ${mustLoad}; recorded: ${[...run.loaded].join(' ')}`);
  assert.deepEqual(heavy(run.loaded), [], `${what} loaded the runtime or its libraries`);
  assert.ok(run.internal.length > 0, `${what}: the recorder listed Node's own modules`);
  assert.ok(!run.internal.includes(UNDICI), `${what} loaded Node's fetch (undici)`);
}

test('light commands: the command list and each command\'s help load none of the runtime\'s modules', async () => {
  const runs = await Promise.all([
    ['--help'], ['help', 'backup'], ['versions', '--help'], ['login', '--help'], ['logs', '--help'], ['backup', '--help'], ['deploy', '--help'],
  ].map(async (args) => ({ args, run: await flexd(args) })));
  for (const { args, run } of runs) {
    assert.equal(run.code, 0, `flexd ${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stdout, /^Usage: flexd /);
    // `flexd --help` lists every command: each one's descriptor is loaded and must be light;
    // a command's help loads that command's file only
    const named = args[0] === 'help' ? args[1] : args[0]!.startsWith('-') ? undefined : args[0];
    assertLight(run, `flexd ${args.join(' ')}`, `src/cli/commands/${named ?? 'whoami'}.ts`);
    if (named) assert.deepEqual(commandFiles(run.loaded), [`${named}.ts`], `flexd ${args.join(' ')} loads no other command's file`);
    else assert.equal(commandFiles(run.loaded).length, 24, 'flexd --help loads every command for its summary');
  }
  const list = runs[0]!.run.stdout;
  for (const name of ['serve', 'dev', 'versions', 'login', 'logs', 'backup', 'deploy', 'rollback']) assert.match(list, new RegExp(`^  ${name} `, 'm'));
  assert.match(runs[1]!.run.stdout, /^Usage: flexd backup --out FILE/);
});

test('light commands: serve and dev still print their help, and serve loads the runtime when it runs', async () => {
  const [serveHelp, devHelp, helpServe] = await Promise.all([flexd(['serve', '--help']), flexd(['dev', '--help']), flexd(['help', 'serve'])]);
  assert.equal(serveHelp.code, 0, serveHelp.stderr);
  assert.match(serveHelp.stdout, /^Usage: flexd serve \[options\]\n/);
  assert.match(serveHelp.stdout, /--data-dir DIR .*default \.\/\.flexd\)/);
  assert.equal(helpServe.stdout, serveHelp.stdout, 'flexd help serve prints what flexd serve --help prints');
  assert.deepEqual(heavy(helpServe.loaded), [], 'flexd help serve reads the help without the runtime');
  assert.equal(devHelp.code, 0, devHelp.stderr);
  assert.match(devHelp.stdout, /^Usage: flexd dev \[dir\] \[options\]\n/);
  // the recorder sees the runtime where it is loaded: the checks above are not vacuous
  assert.ok(serveHelp.loaded.has(RUNTIME), 'flexd serve runs src/cli/serve.ts, which imports the runtime');
  assert.ok(heavy(serveHelp.loaded).includes('hono'), heavy(serveHelp.loaded).join(', '));
});

test('light commands: login, versions and list against a running flexd load none of the runtime\'s modules', async () => {
  // the server is the installed package (no sources through tsx): what is checked is the commands' loading
  const served = spawnServe(cleanup, ['--data-dir', await tempDir(cleanup, 'flexd-light-data-')],
    { bin: await installedFlexdBin(), env: serveEnv({ FLEXD_ADMIN_EMAIL: 'admin@example.com', FLEXD_ADMIN_PASSWORD: 'light-commands-pw' }) });
  const url = await withDeadline('flexd serve to listen', served.url, SERVE_START_TIMEOUT_MS);
  const login = await flexd(['login', '--host', url, '--email', 'admin@example.com', '--password', 'light-commands-pw']);
  assert.equal(login.code, 0, login.stderr);
  assertLight(login, 'flexd login', 'src/cli/commands/login.ts');

  const created = await flexd(['create', 'light', '--output', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const [versions, list] = await Promise.all([flexd(['versions', '-s', 'light', '--output', 'json']), flexd(['list'])]);
  assert.equal(versions.code, 0, versions.stderr);
  assert.deepEqual(JSON.parse(versions.stdout), { result: [] });
  assertLight(versions, 'flexd versions', 'src/cli/client.ts');
  assert.deepEqual(commandFiles(versions.loaded), ['versions.ts'], 'flexd versions loads no other command\'s file');
  assert.deepEqual(commandFiles(login.loaded), ['login.ts'], 'flexd login loads no other command\'s file');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /light/);
  assertLight(list, 'flexd list', 'src/cli/target.ts');
});
