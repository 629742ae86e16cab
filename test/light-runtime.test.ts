/**
 * The runtime loads a library where it is used, not when it is imported (issue 17): importing
 * src/runtime.ts and starting it on SQLite, then one management request and one data-plane
 * request, loads neither PostgreSQL's client (pg) nor the libraries of deploys (tar), uploads
 * (busboy), watches (chokidar, readdirp), query strings (qs), the stderr logger (pino) or the
 * checkout's compiler (esbuild). Each costs every `flexd serve`, `import('flexd')` and test
 * process tens of milliseconds of CPU to load (docs/architecture.md, "Loading").
 *
 * The run is test/fixtures/loading/start-runtime.ts in a process of its own, through tsx and
 * test/helpers/import-recorder.mjs: what the runtime loaded is what is reachable from
 * src/runtime.ts by ESM imports (tsx loads esbuild for itself), plus the packages in the
 * process's CommonJS cache (a package required lazily, src/load-later.ts), which the recorder
 * does not see. esbuild is checked by the first only: tsx requires it too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cleanupStack } from './helpers/cleanup.ts';
import { packageOf, readImportLog, reachable } from './helpers/imports.ts';
import { serveEnv } from './helpers/serve.ts';
import { tempDir } from './helpers/tmp.ts';
import { withDeadline } from './helpers/wait.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const RECORDER = join(REPO, 'test', 'helpers', 'import-recorder.mjs');
const SCRIPT = join(REPO, 'test', 'fixtures', 'loading', 'start-runtime.ts');
const RUNTIME = pathToFileURL(join(REPO, 'src', 'runtime.ts')).href;
/** node start-up through tsx, a runtime's start and stop, on a loaded machine */
const RUN_TIMEOUT_MS = 90_000;
/** Loaded only where used: a database URL, a deploy, an upload, a watch, a query string, a stderr log, a checkout's build. */
const LATER = ['pg', 'tar', 'busboy', 'chokidar', 'readdirp', 'qs', 'pino', 'esbuild'];

const cleanup = cleanupStack({ after });

test('light runtime: importing and starting the runtime on SQLite loads none of pg, tar, busboy, chokidar, qs, pino or esbuild', async () => {
  const log = join(await tempDir(cleanup, 'flexd-light-runtime-'), 'imports.jsonl');
  const child = spawn(process.execPath, ['--import', RECORDER, '--import', 'tsx', SCRIPT], {
    cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: serveEnv({ FLEXD_IMPORT_LOG: log }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const code = await withDeadline('the runtime to start and stop', new Promise<number | null>((r) => child.once('close', r)), RUN_TIMEOUT_MS)
    .catch((err) => { child.kill('SIGKILL'); throw err; });
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout) as { api: number; dataPlane: number; required: string[] };
  assert.equal(result.api, 200, 'the management API answered');
  assert.equal(result.dataPlane, 404, 'the data plane answered (no such service)');

  const lines = await readImportLog(log);
  const imported = new Set([...reachable(lines, RUNTIME)].flatMap((u) => packageOf(u) ?? []));
  const required = new Set(result.required.flatMap((p) => packageOf(p) ?? []));
  // what the runtime needs to start does show, in each list: the checks below are not vacuous
  assert.ok(imported.has('hono') && imported.has('better-sqlite3'), `imported from src/runtime.ts: ${[...imported].join(', ')}`);
  assert.ok(required.has('better-sqlite3'), `required: ${[...required].join(', ')}`);
  assert.deepEqual(LATER.filter((p) => imported.has(p)), [], 'imported by the runtime at its start');
  assert.deepEqual(LATER.filter((p) => p !== 'esbuild' && required.has(p)), [], 'required by the runtime at its start');
});
