/**
 * Issue 8: whatever runs under `npm install --omit=dev` + `node .` runs on flexd unchanged, and
 * the build runs in a box. Every fixture (test/fixtures/build) is uploaded WITHOUT node_modules
 * through the management API, as kinvey-cli uploads, into one runtime; builds run one at a time
 * there, so the deploys are all started up front and each test awaits its own. One npm cache is
 * shared by the whole file, warm with what earlier runs fetched (test/helpers/npm-cache.ts): npm
 * reads the packages it has from there (flexd installs --prefer-offline) and asks the registry the rest.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { unpackArtifact } from '../../src/deploy/artifact.ts';
import type { FinishedJob } from '../../src/deploy/jobs.ts';
import { startApi, type Api } from '../api/helpers.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { startStandalone } from '../helpers/standalone.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/build/', import.meta.url));
/** Every build of the file, one after the other, with a cold npm cache (a first run) and one node-gyp compile. */
const ALL_BUILDS_MS = 8 * 60_000;
/** A variable of flexd's own that no build may see. */
const FLEXD_SECRET_VARIABLE = 'FLEXD_BUILD_TEST_SECRET';
const SECRET = 'env-secret';
/** A plain `npm install` of a fixture beside flexd's, from the warm cache (the registry on a first run). */
const NPM_MS = 5 * 60_000;

interface Deployed { job: FinishedJob; serviceId: string; environmentId: string; dir: string }

describe('builds: the installed project, as node . runs it, built in a box', () => {
  const cleanup = new CleanupStack();
  let api: Api;
  let npmCache: string;
  let work: string;
  const deploys = new Map<string, Promise<Deployed>>();
  /** The files the hostile preinstall script tries to read. */
  const hostileTargets: string[] = [];
  const deployed = (name: string) => withDeadline(`the deploy of ${name}`, deploys.get(name)!, ALL_BUILDS_MS);

  /** A copy of a fixture to change and upload; `edit` runs on the copy first. */
  const copyOf = (fixture: string, as: string, edit?: (dir: string) => void) => {
    const dir = join(work, as);
    cpSync(join(FIXTURES, fixture), dir, { recursive: true });
    edit?.(dir);
    return dir;
  };

  /** Uploads `dir` (without node_modules, as kinvey-cli does) to a new environment; resolves when its job ends. */
  const upload = async (name: string, dir: string, version = '1.0.0', environment?: { serviceId: string; environmentId: string }): Promise<Deployed> => {
    const target = environment ?? await api.createEnvironment(name);
    const files = readdirSync(dir).filter((f) => f !== 'node_modules');
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: dir, portable: true }, files)) chunks.push(chunk as Buffer);
    const accepted = await api.upload({ serviceId: target.serviceId, serviceEnvironmentId: target.environmentId, version }, Buffer.concat(chunks));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const job = await api.rt.context.deployer.jobs.wait(accepted.body.job);
    return { serviceId: target.serviceId, environmentId: target.environmentId, job, dir };
  };

  const call = async (d: Deployed, fn: string) => {
    const res = await withDeadline(`POST ${fn}`, fetch(`${api.rt.url}/flex/${d.serviceId}/${d.environmentId}/_flexFunctions/${fn}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-key': SECRET }, body: '{}',
    }), 30_000);
    return { status: res.status, body: await res.json() as any };
  };

  before(async () => {
    process.env[FLEXD_SECRET_VARIABLE] = 'flexd-only';
    work = await tempDir(cleanup, 'flexd-builds-');
    chmodSync(work, 0o755);
    npmCache = await warmNpmCache(cleanup);
    // A uid range of its own: other runtimes on this host (other test files) sweep their build account's leftovers.
    // The default uid range: flexd claims the first one no other flexd on this host holds (a fixed
    // one is refused while another suite's runtime holds it).
    api = await startApi(cleanup, { npmCacheDir: npmCache });

    deploys.set('faithful', upload('faithful', copyOf('faithful', 'faithful')));
    deploys.set('next', upload('next', copyOf('policy', 'next')));
    deploys.set('pin', upload('pin', copyOf('policy', 'pin', (dir) => {
      // Formatted as no tool would, to see the bytes the service reads are its own.
      writeFileSync(join(dir, 'package.json'), '{"name":"build-pin",  "version":"1.0.0",\n "dependencies":{"kinvey-flex-sdk":"3.2.1","fs":"0.0.1-security"}}\n');
      // …and a lockfile that pins the vanished version too: npm would fail on it.
      writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({
        name: 'build-pin', version: '1.0.0', lockfileVersion: 3, requires: true,
        packages: {
          '': { name: 'build-pin', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '3.2.1' } },
          'node_modules/kinvey-flex-sdk': { version: '3.2.1', resolved: 'https://registry.npmjs.org/kinvey-flex-sdk/-/kinvey-flex-sdk-3.2.1.tgz', integrity: `sha512-${'A'.repeat(86)}==` },
        },
      }));
    })));
    deploys.set('native', upload('native', copyOf('native', 'native')));
    deploys.set('hostile', (async () => {
      const secretDir = join(work, 'root-only');
      mkdirSync(secretDir, { mode: 0o700 });
      writeFileSync(join(secretDir, 'secret.txt'), 'root-only secret', { mode: 0o600 });
      const dir = copyOf('hostile', 'hostile', (d) => {
        hostileTargets.push('/etc/shadow', join(secretDir, 'secret.txt'), join(api.rt.context.dataDir, 'flexd.db'));
        writeFileSync(join(d, 'targets.json'), JSON.stringify(hostileTargets));
      });
      return upload('hostile', dir);
    })());
    deploys.set('npmrc', (async () => {
      const dir = copyOf('npmrc', 'npmrc', (d) => {
        mkdirSync(join(d, 'marks'), { mode: 0o777 });
        chmodSync(join(d, 'marks'), 0o777);
        writeFileSync(join(d, '.npmrc'), `git=${join(d, 'fake-git.js')}\n`);
      });
      return upload('npmrc', dir);
    })());
    for (const d of deploys.values()) d.catch(() => {}); // each test reports its own
  });
  after(async () => {
    delete process.env[FLEXD_SECRET_VARIABLE];
    await cleanup.run();
  });

  it('a service answers as under node .: a directive prologue without a semicolon, unicode-properties reading data.trie, a package\'s template read by __dirname, its own package.json, the main module', async (t) => {
    const d = await deployed('faithful');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    const flexd: Record<string, unknown> = {};
    for (const fn of ['unicode', 'assets', 'ownPackage', 'module']) {
      const { status, body } = await call(d, fn);
      assert.equal(status, 200, `${fn}: ${JSON.stringify(body)}`);
      flexd[fn] = body.response.body;
    }
    assert.deepEqual(flexd.unicode, { A: 'Lu', digit: true });
    assert.deepEqual(flexd.assets, { page: '<p>Hello, flexd</p>\n' });
    const ownBytes = readFileSync(join(FIXTURES, 'faithful', 'package.json'));
    assert.deepEqual(flexd.ownPackage, { sha256: createHash('sha256').update(ownBytes).digest('hex'), version: '1.0.0' });
    assert.deepEqual(flexd.module, { strict: true, isMain: true, parent: 'null', argv1IsProject: true, resolvesSdk: 'node_modules/kinvey-flex-sdk' });

    // The same folder under npm install --omit=dev and node .
    const plain = copyOf('faithful', 'faithful-node');
    await npm(plain, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--cache', npmCache]);
    const svc = await startStandalone({ projectDir: plain }, t);
    for (const fn of ['unicode', 'assets', 'ownPackage']) {
      const res = await withDeadline(`POST ${fn} under node .`, fetch(`${svc.url}/_flexFunctions/${fn}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 30_000);
      assert.deepEqual((await res.json() as any).response.body, flexd[fn], fn);
    }
  });

  it('a handler\'s error answers a debug naming lib/thrower.js:3 and no folder of flexd\'s', async () => {
    const d = await deployed('faithful');
    const { status, body } = await call(d, 'throws');
    assert.equal(status, 500);
    assert.equal(body.error, 'FlexRuntimeError');
    assert.match(body.debug, /thrown by lib\/thrower\.js/);
    assert.match(body.debug, /at thrower \(lib\/thrower\.js:3:9\)/);
    assert.ok(!body.debug.includes(api.rt.context.dataDir), body.debug);
    assert.ok(!/\/(run|artifacts|runtime)\//.test(body.debug), body.debug);
  });

  it('a stack a handler logs names index.js and its line in the service\'s logs, no folder of flexd\'s', async () => {
    const d = await deployed('faithful');
    assert.equal((await call(d, 'logStack')).status, 200);
    const lines = await waitFor('the logged stack in the logs', async () => {
      const messages = (await api.rt.context.store.logs.latest(d.environmentId, 200)).map((l) => l.message);
      return messages.some((m) => /(\(|at )index\.js:\d+:\d+/.test(m)) ? messages : undefined;
    }, { timeoutMs: 10_000 });
    const dataDir = api.rt.context.dataDir;
    assert.deepEqual(lines.filter((m) => m.includes(dataDir) || /\/artifacts\//.test(m)), []);
  });

  it('a redeploy with unchanged dependencies skips npm and reuses the stored tree: both versions name one stored tree', async () => {
    const first = await deployed('faithful');
    const dir = copyOf('faithful', 'faithful-2', (d) => {
      writeFileSync(join(d, 'package.json'), readFileSync(join(d, 'package.json'), 'utf8').replace('"1.0.0"', '"1.0.1"'));
    });
    const again = await withDeadline('the redeploy', upload('faithful', dir, '1.0.1', first), ALL_BUILDS_MS);
    assert.equal(again.job.status, 'COMPLETED', again.job.progress);
    assert.match(again.job.progress, /reusing its installed tree \(npm not run\)/);
    assert.doesNotMatch(again.job.progress, /Installing dependencies/);
    assert.deepEqual((await call(again, 'unicode')).body.response.body, { A: 'Lu', digit: true });
    const store = api.rt.context.store;
    const keys = await Promise.all((await store.versions.list(first.environmentId)).map((v) => store.versions.dependenciesKey(v.id)));
    assert.equal(keys.length, 2);
    assert.ok(keys[0], 'the versions have a dependency tree');
    assert.equal(keys[0], keys[1], 'both versions use one tree');
    // Other deploys of this file store trees of their own: this one is stored, under the key both name.
    assert.ok(await store.dependencyTrees.get(keys[0]!), 'the shared tree is stored');
  });

  it('install policy: "kinvey-flex-sdk": "next" becomes the newest SDK, a core-module dependency is dropped, a devDependency the registry lacks is never resolved', async () => {
    const d = await deployed('next');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    assert.match(d.job.progress, /kinvey-flex-sdk next is not available; using 3\.\d+\.\d+/);
    assert.match(d.job.progress, /"fs": "0\.0\.1-security" in dependencies names a core module of Node; not installed/);
    assert.doesNotMatch(d.job.progress, /EBADENGINE|deprecated/);
    const { body } = await call(d, 'about');
    assert.equal(body.response.body.coreFs, 'function');
    assert.match(body.response.body.sdk, /^3\./);
  });

  it('install policy: a vanished exact pin (3.2.1, in package.json and lockfile) installs the newest 3.x, and the service reads its own package.json bytes', async () => {
    const d = await deployed('pin');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    assert.match(d.job.progress, /kinvey-flex-sdk 3\.2\.1 is not available; using 3\.3\.0/);
    assert.match(d.job.progress, /package-lock\.json pins kinvey-flex-sdk 3\.2\.1, which is not available; installing without the lockfile/);
    const { body } = await call(d, 'about');
    const ownBytes = readFileSync(join(d.dir, 'package.json'));
    assert.equal(body.response.body.sdk, '3.3.0');
    assert.equal(body.response.body.ownPackageSha256, createHash('sha256').update(ownBytes).digest('hex'));
  });

  it('a native addon built by npm (node-expat) runs', async () => {
    const d = await deployed('native');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    const { status, body } = await call(d, 'parse');
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.response.body.events, [['start', 'greeting', { lang: 'en' }], ['text', 'hello'], ['end', 'greeting']]);
  });

  it('security: a preinstall script runs as a uid of its build, sees no FLEXD_ variable and cannot read root-only files or the database into the artifact', async (t) => {
    const d = await deployed('hostile');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    const { body } = await call(d, 'evidence');
    const evidence = body.response.body.evidence;
    assert.equal(typeof evidence, 'object', `the preinstall script ran and left its evidence: ${JSON.stringify(body)}`);
    assert.deepEqual(evidence.flexdVariables, []);
    if (process.getuid?.() === 0) {
      // A uid of this build alone, from the top tenth of the range (isolation/accounts.ts), not the fetch account at its start.
      const { uidRangeStart, uidRangeSize } = api.rt.context.settings;
      assert.ok(evidence.uid >= uidRangeStart + uidRangeSize - 1_000 && evidence.uid < uidRangeStart + uidRangeSize, `a build uid: ${evidence.uid}`);
      assert.deepEqual(evidence.read, Object.fromEntries(hostileTargets.map((file) => [file, 'EACCES'])), 'every file it tried was refused');
      assert.ok(!body.response.body.files.some((f: string) => f.startsWith('stolen-')), body.response.body.files.join(' '));
    } else {
      assert.equal(evidence.uid, process.getuid?.());
    }
    // Whatever the script did, the artifact holds nothing of the root-only file.
    const out = await tempDir(t, 'flexd-artifact-');
    const version = (await api.rt.context.store.versions.list(d.environmentId))[0];
    await unpackArtifact((await api.rt.context.store.versions.artifact(version.id)), out);
    const files = (readdirSync(out, { recursive: true }) as string[]).filter((f) => lstatSync(join(out, f)).isFile());
    assert.ok(files.length > 100, 'the artifact was unpacked');
    assert.deepEqual(files.filter((f) => readFileSync(join(out, f)).includes('root-only secret')), []);
  });

  it('security: the project\'s .npmrc naming its own script as git is never honoured (npm itself would run it)', async () => {
    const d = await deployed('npmrc');
    assert.equal(d.job.status, 'ERROR', 'the git dependency cannot be fetched with the real git');
    // …failed at npm install, on that dependency (not earlier: then the fake git could not have run either).
    assert.match(d.job.progress, /DependencyInstallFailed/, d.job.progress);
    assert.match(d.job.progress, /flexd\.invalid/, d.job.progress);
    assert.deepEqual(readdirSync(join(d.dir, 'marks')), [], 'the fake git never ran in flexd\'s build');
    // The fixture is armed: plain npm in that folder runs the script.
    // (npm then fails: the fake git exits 1, as the real one does for the unreachable repository)
    await assert.rejects(npm(d.dir, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--cache', npmCache]), /npm install exited 1/);
    const marks = readdirSync(join(d.dir, 'marks'));
    assert.equal(marks.length, 1, 'npm with the project\'s .npmrc ran its git');
    assert.match(marks[0]!, /^git-ran-as-\d+$/);
  });

  it('security: a link to a root-only file in a deployed folder does not reach the artifact', async (t) => {
    const secretDir = join(work, 'linked-secret');
    mkdirSync(secretDir, { mode: 0o700 });
    writeFileSync(join(secretDir, 'secret.txt'), 'linked root-only secret', { mode: 0o600 });
    const dir = copyOf('faithful', 'linking', (d) => {
      symlinkSync(join(secretDir, 'secret.txt'), join(d, 'leak.txt'));
      symlinkSync('/etc/passwd', join(d, 'lib', 'passwd'));
    });
    // A later version of faithful's environment: its dependency tree is stored (a tree with a
    // local package is its environment's alone), so npm does not run; the project part is packed
    // from the deployed folder's copy, links and all.
    const first = await deployed('faithful');
    assert.equal(first.job.status, 'COMPLETED', first.job.progress);
    const job = await withDeadline('deployDirectory of a linking folder', api.rt.deployDirectory(dir, { service: first.serviceId, environment: first.environmentId, version: 'auto' }), ALL_BUILDS_MS);
    assert.equal(job.status, 'COMPLETED', job.progress);
    assert.match(job.progress, /reusing its installed tree \(npm not run\)/);
    assert.match(job.progress, /Not in the artifact: .*leak\.txt: a symlink leaving the project folder/);
    const version = await api.rt.context.store.versions.ofJob(job.id);
    assert.ok(version, 'the linking folder\'s version is stored');
    const out = await tempDir(t, 'flexd-artifact-');
    await unpackArtifact((await api.rt.context.store.versions.artifact(version.id)), out);
    assert.ok(!existsSync(join(out, 'leak.txt')) && !existsSync(join(out, 'lib', 'passwd')));
    assert.ok(existsSync(join(out, 'lib', 'thrower.js')) && existsSync(join(out, 'node_modules', 'unicode-properties', 'data.trie')));
  });
});

/** Runs npm in `dir` (as this process's user, with the project's own configuration); killed after NPM_MS. */
function npm(dir: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    for (const name of Object.keys(env)) if (/^(npm_|NODE_OPTIONS|NODE_TEST_CONTEXT)/i.test(name)) delete env[name];
    const child = spawn('npm', args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: NPM_MS, killSignal: 'SIGKILL' });
    let err = '';
    child.stderr.on('data', (c) => { err += c; });
    child.once('close', (code, signal) => (code === 0 ? resolve()
      : reject(new Error(signal ? `npm ${args[0]} killed by ${signal} (after ${NPM_MS} ms at most): ${err.slice(-500)}` : `npm ${args[0]} exited ${code}: ${err.slice(-500)}`))));
  });
}
