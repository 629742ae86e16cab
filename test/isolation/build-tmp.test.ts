/**
 * A build's /tmp and /dev/shm are its own (src/isolation/build-namespace.ts): as root each build
 * runs in a pid and mount namespace whose /tmp and /dev/shm are fresh tmpfs mounts, so what an
 * install script leaves there ends with the build, and no build sees another's. The exception:
 * a data dir under /tmp or /dev/shm (the test suite puts its data dirs on /dev/shm), where a
 * tmpfs over that folder would hide the build's own files; there the build keeps the host's. The
 * same for npm's cache (`npmCacheDir`) configured under one of them.
 *
 * The project's postinstall writes a file into /tmp and one into /dev/shm, looks for a file the
 * test planted in the host's, and reports both in built.json, which ships with the project and
 * the service returns: that the writes succeeded is what makes their absence on the host mean
 * something. (The other attacks of one build on another: test/security/builds.test.ts.)
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { publishedSdk } from '../../src/deploy/install.ts';
import { buildIsolation } from '../../src/isolation/build-namespace.ts';
import { ensureBuildIsolationTools } from '../helpers/build-isolation.ts';
import { CleanupStack, cleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, startRuntime } from '../lifecycle/helpers.ts';

const asRoot = process.getuid?.() === 0;
/** npm installs kinvey-flex-sdk (from a warm cache, test/helpers/npm-cache.ts; the registry on a first run), then runs the script. */
const BUILD_DEPLOY_TIMEOUT_MS = 240_000;
/** In every file name the builds write, so the test finds them on the host and nothing else matches. */
const MARK = `flexd-build-tmp-${process.pid}-${Date.now()}`;
/** A folder that is neither /tmp nor /dev/shm nor under them. */
const ELSEWHERE = '/var/tmp';

const SERVICE = `'use strict';
const fs = require('fs');
const path = require('path');
const sdk = require('kinvey-flex-sdk');
sdk.service({ sharedSecret: process.env.FLEX_SHARED_SECRET }, (err, flex) => {
  if (err) throw err;
  flex.functions.register('built', (context, complete) => {
    complete().setBody(JSON.parse(fs.readFileSync(path.join(__dirname, 'built.json'), 'utf8'))).ok().next();
  });
});
`;

/** The install script: writes into /tmp and /dev/shm, and says what it wrote and what it saw there. */
const WRITE_TMP = `'use strict';
const fs = require('fs');
const path = require('path');
const report = {};
for (const dir of ['/tmp', '/dev/shm']) {
  const file = path.join(dir, '${MARK}-from-the-build');
  let wrote;
  try { fs.writeFileSync(file, 'left by a build'); wrote = fs.readFileSync(file, 'utf8') === 'left by a build'; } catch (e) { wrote = e.code; }
  let sawHostFile;
  try { sawHostFile = fs.readdirSync(dir).includes('${MARK}-from-the-host'); } catch (e) { sawHostFile = e.code; }
  report[dir] = { wrote, sawHostFile };
}
fs.writeFileSync(path.join(process.env.INIT_CWD || process.cwd(), 'built.json'), JSON.stringify(report));
`;

interface Report { [dir: string]: { wrote: boolean | string; sawHostFile: boolean | string } }

/** Files of this test's mark in the host's /tmp and /dev/shm. */
async function leftOnHost(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ['/tmp', '/dev/shm']) {
    for (const name of await readdir(dir)) if (name.startsWith(`${MARK}-from-the-build`)) found.push(join(dir, name));
  }
  return found;
}

describe('a build\'s /tmp and /dev/shm', { skip: !asRoot && 'the build namespace\'s mounts need root' }, () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let project: string;

  before(async () => {
    const missing = ensureBuildIsolationTools();
    assert.equal(missing, undefined, missing);
    project = await tempDir(suite, 'flexd-build-tmp-project-');
    await chmod(project, 0o755);
    await writeFile(join(project, 'package.json'), JSON.stringify({
      name: 'build-tmp', version: '1.0.0', main: 'index.js',
      dependencies: { 'kinvey-flex-sdk': '^3.0.0' }, scripts: { postinstall: 'node write-tmp.js' },
    }, null, 2));
    await writeFile(join(project, 'index.js'), SERVICE);
    await writeFile(join(project, 'write-tmp.js'), WRITE_TMP);
    // what a build must not see when its /tmp and /dev/shm are its own
    for (const dir of ['/tmp', '/dev/shm']) {
      const planted = join(dir, `${MARK}-from-the-host`);
      await writeFile(planted, 'the host\'s');
      suite.after(() => rm(planted, { force: true }));
    }
    suite.after(async () => { for (const file of await leftOnHost()) await rm(file, { force: true }); });
  });

  async function deployUnder(parent: string, cleanup: CleanupStack, service: string): Promise<Report> {
    const dataDir = await tempDir(cleanup, 'flexd-build-tmp-data-', parent);
    // A warm cache of its own per runtime (each hands it to its own fetch account), beside the data
    // dir: a build whose data dir is elsewhere does not see the host's /tmp and /dev/shm.
    const h = await startRuntime(cleanup, { npmCacheDir: await warmNpmCache(cleanup, parent) }, dataDir);
    assert.equal((await h.rt.context.deployer.buildIsolation()).mode, 'namespace', 'builds get a pid namespace here');
    const job = await withDeadline('the deploy with an install script', h.rt.deployDirectory(project, { service, environment: 'Development' }), BUILD_DEPLOY_TIMEOUT_MS);
    assert.equal(job.status, 'COMPLETED', job.progress);
    assert.match(job.progress, /Running install scripts/, 'the build ran the install script');
    const res = await callFunction(h.base(service, 'Development'), 'built');
    assert.equal(res.status, 200, res.text);
    return res.answer as Report;
  }

  test(`with the data dir elsewhere (${ELSEWHERE}), what an install script writes into /tmp and /dev/shm is gone with the build, and it sees nothing of the host's`, async (t) => {
    const cleanup = cleanupStack(t);
    const report = await deployUnder(ELSEWHERE, cleanup, 'elsewhere');
    assert.deepEqual(report, {
      '/tmp': { wrote: true, sawHostFile: false },
      '/dev/shm': { wrote: true, sawHostFile: false },
    }, 'the script wrote both files, in folders of its own');
    assert.deepEqual(await leftOnHost(), [], 'nothing of the build in the host\'s /tmp or /dev/shm');
  });

  test('with the data dir under /dev/shm, a build still works (its own folders stay visible); its /tmp is still its own', async (t) => {
    const cleanup = cleanupStack(t);
    const report = await deployUnder('/dev/shm', cleanup, 'on-shm');
    assert.equal(report['/dev/shm']!.wrote, true, JSON.stringify(report));
    assert.deepEqual(report['/tmp'], { wrote: true, sawHostFile: false });
    assert.deepEqual((await leftOnHost()).filter((f) => f.startsWith('/tmp/')), [], 'nothing of the build in the host\'s /tmp');
  });

  test('npm\'s cache configured under /dev/shm, with the data dir elsewhere, is the host\'s folder in the build: npm fills it, not a cache of its own in a private tmpfs', async (t) => {
    const nobody = { uid: 65534, gid: 65534 };
    const cache = await tempDir(t, 'flexd-build-tmp-cache-', '/dev/shm');
    const work = await tempDir(t, 'flexd-build-tmp-work-', ELSEWHERE);
    for (const dir of [cache, work]) await chown(dir, nobody.uid, nobody.gid);
    // `npm view` of the SDK's versions, as a build asks it: in the build's namespace, as the build's
    // account. npm by its path: the answer is kept per process and command, and this file's runtimes asked already.
    const lines: string[] = [];
    const published = await withDeadline('npm view in a build namespace', publishedSdk(work, {
      cacheDir: cache, onProgress: (line) => lines.push(line), isolation: await buildIsolation(), account: nobody, npmCommand: join(dirname(process.execPath), 'npm'),
      env: { PATH: process.env.PATH, HOME: work, npm_config_update_notifier: 'false' },
    }), BUILD_DEPLOY_TIMEOUT_MS);
    assert.ok(published && published.versions.length > 0, lines.join('\n'));
    assert.deepEqual((await readdir(cache)).filter((name) => name === '_cacache'), ['_cacache'], 'npm wrote into the configured cache');
  });
});
