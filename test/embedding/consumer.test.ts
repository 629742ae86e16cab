/**
 * The check of issue 20, as a team would run it: a project OUTSIDE the repository installs the
 * packed tarball and runs a node:test suite — plain JS (docs/examples/orders.test.mjs and a
 * misuse file) and strict TypeScript compiled with tsc against the published types
 * (docs/examples/orders.test.ts and typed calls) — that uses every call, with
 * `--test-concurrency=2`; as root and, when the test runs as root, as an ordinary user too. After
 * each run nothing of flexd is left running or in the temp dir — also after a `kill -9` of a test
 * process followed by one more run.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, chown, cp, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { cleanEnv, packedCacheDir, REPO_DIR, scratchProject } from '../helpers/packed.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { processTable } from '../helpers/processes.ts';

const run = promisify(execFile);
const CONSUMER = fileURLToPath(new URL('../fixtures/consumer/', import.meta.url));
const SERVICE = fileURLToPath(new URL('../fixtures/embed-counter/', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../docs/examples/', import.meta.url));
const TSC = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
/** docs/embedding.md's two examples as they are (test/docs-examples.test.ts checks the doc shows them verbatim), misuse, and the typed calls. */
const SUITE = ['test/orders.test.mjs', 'build/orders.test.js', 'test/misuse.test.mjs', 'build/typed.test.js'];
/** The suite deploys about ten times on a loaded 2-core machine. */
const SUITE_TIMEOUT_MS = 480_000;
/** The account an ordinary user's run uses when this test runs as root. */
const NOBODY = 65534;

const isRoot = process.getuid?.() === 0;

interface SuiteRun { code: number | null; stdout: string; stderr: string }

describe('a consumer project runs its node:test suite against the packed flexd', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  let scratch: string;
  /** The names of the documented examples' tests. */
  const exampleTests: string[] = [];

  before(async () => {
    scratch = await scratchProject(cleanup, 'flexd-consumer-');
    await chmod(scratch, 0o755);
    await cp(CONSUMER, scratch, { recursive: true });
    for (const name of ['orders.test.mjs', 'orders.test.ts']) {
      await cp(join(EXAMPLES, name), join(scratch, 'test', name));
      for (const [, title] of readFileSync(join(EXAMPLES, name), 'utf8').matchAll(/^test\('([^']+)'/gm)) exampleTests.push(title!);
    }
    assert.equal(exampleTests.length, 9, 'the two examples\' tests (eight calls in JS, one in TypeScript)');
    const service = join(scratch, 'service');
    await cp(SERVICE, service, { recursive: true });
    // kinvey-flex-sdk resolves from the service's folder (no npm install in a deploy)
    await symlink(join(REPO_DIR, 'node_modules'), join(service, 'node_modules'), 'dir');
    // strict TypeScript against the published types, skipLibCheck off; @types/node from the repo
    const config = JSON.parse(readFileSync(join(scratch, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    config.compilerOptions.typeRoots = [join(REPO_DIR, 'node_modules', '@types')];
    Object.assign(config.compilerOptions, { incremental: true, tsBuildInfoFile: 'build/tsconfig.tsbuildinfo' });
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify(config));
    await compileIncrementally(scratch);
  });

  /**
   * tsc -p with --incremental, starting from build/ as the last run against this same install left
   * it (its .tsbuildinfo holds each input's hash and diagnostics): tsc checks again what changed
   * and what depends on it, about 1.4 s of CPU instead of 4 when nothing did. The outputs and the
   * .tsbuildinfo are kept together, so a kept build/ is always one tsc run's whole result.
   */
  async function compileIncrementally(project: string): Promise<void> {
    const build = join(project, 'build');
    const kept = await packedCacheDir('consumer-tsc-build');
    await cp(kept, build, { recursive: true }).catch(() => rm(build, { recursive: true, force: true }));
    const compiled = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, env: cleanEnv(), timeout: 180_000 }).catch((err) => err);
    assert.equal(compiled.code ?? 0, 0, `tsc:\n${compiled.stdout}${compiled.stderr}`);
    for (const file of SUITE.filter((f) => f.startsWith('build/'))) assert.ok(existsSync(join(project, file)), `tsc wrote ${file}`);
    const next = `${kept}.${process.pid}`;
    await cp(build, next, { recursive: true });
    await rm(kept, { recursive: true, force: true });
    await rename(next, kept).catch(() => rm(next, { recursive: true, force: true }));
  }

  /** A temp dir for one run, owned by `uid`, that others may pass through (as /tmp). */
  async function runTmp(uid?: number): Promise<string> {
    const dir = await tempDir(cleanup, 'flexd-consumer-tmp-');
    if (uid !== undefined) await chown(dir, uid, uid);
    await chmod(dir, 0o755);
    return dir;
  }

  function startSuite(tmp: string, uid?: number, files = SUITE) {
    const env = cleanEnv();
    Object.assign(env, { TMPDIR: tmp, SERVICE_DIR: join(scratch, 'service'), HOME: tmp });
    const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...files], {
      cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'], ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    cleanup.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const done = withDeadline('the consumer suite', new Promise<SuiteRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))), SUITE_TIMEOUT_MS);
    return { child, done };
  }

  async function assertClean(tmp: string, label: string): Promise<void> {
    // HOME is the temp dir too: what node or npm keep there is not flexd's
    const left = (await readdir(tmp)).filter((name) => !['.npm', '.cache', '.config'].includes(name));
    assert.deepEqual(left, [], `${label}: nothing is left in the temp dir`);
    const running = await processesMentioning(tmp);
    assert.deepEqual(running, [], `${label}: nothing is left running`);
  }

  function assertPassed(r: SuiteRun, label: string): void {
    assert.equal(r.code, 0, `${label}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /# fail 0/);
    const passed = Number(/# pass (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(passed >= 20, `${label}: ${passed} tests passed`);
    // every test of the documented examples ran and passed (none skipped or left out)
    for (const name of exampleTests) assert.match(r.stdout, new RegExp(`^\\s*ok \\d+ - ${escapeRegExp(name)}$`, 'm'), `${label}: the example's test "${name}"`);
  }

  test('as an ordinary user: the same suite passes and leaves nothing', { skip: !isRoot && 'not root: the run below is an ordinary user\'s' }, async () => {
    const tmp = await runTmp(NOBODY);
    const r = await startSuite(tmp, NOBODY).done;
    assertPassed(r, 'the suite as uid 65534');
    await assertClean(tmp, 'after the suite as uid 65534');
  });

  test(`as ${isRoot ? 'root' : 'this user'}: after kill -9 of a test process, one more run of the JS and strict TypeScript suite passes, two files at a time, and leaves nothing running or in the temp dir`, async () => {
    const tmp = await runTmp();
    const first = startSuite(tmp, undefined, ['test/orders.test.mjs']);
    first.done.catch(() => {});
    // The process of one test file, once it has a replica running (its first deploy served).
    // One look at /proc per poll (a few ms of CPU on a busy machine), four times a second: the file runs for tens of seconds.
    const victim = await waitFor('a test file process with a running replica', async () => {
      const all = await processTable();
      const file = all.find((p) => p.ppid === first.child.pid && p.cmdline.includes('orders.test.mjs'));
      return file && all.some((p) => p.ppid === file.pid && p.cmdline.includes(tmp)) ? file.pid : undefined;
    }, { timeoutMs: SUITE_TIMEOUT_MS, intervalMs: 250 });
    process.kill(victim, 'SIGKILL');
    const killed = await first.done;
    assert.equal(killed.code, 1, `the run of the killed file fails (node --test's exit code for a failed file):\n${killed.stdout}`);
    await waitFor('the killed file\'s replicas end with it', async () => (await processesMentioning(tmp)).length === 0, { timeoutMs: 60_000, intervalMs: 100 });
    assert.ok((await readdir(tmp)).some((name) => name.startsWith('flexd-')), 'the killed runtime left its folders');

    const again = await startSuite(tmp).done;
    assertPassed(again, 'the run after kill -9');
    await assertClean(tmp, 'after the run that followed kill -9');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Processes whose command line names `dir` (replicas run a child entry and a project under it). */
async function processesMentioning(dir: string): Promise<string[]> {
  return (await processTable()).filter((p) => p.pid !== process.pid && p.cmdline.includes(dir)).map((p) => `${p.pid} ${p.cmdline}`);
}

