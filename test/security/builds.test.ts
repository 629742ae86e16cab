/**
 * Issue 15, builds attacking other builds (docs/security.md, "A build"). Each attack is a
 * project uploaded through the management API, as kinvey-cli uploads, into one runtime:
 *
 *   - tree poisoning: a project's own postinstall (or a `file:` package's) patches the SDK in
 *     node_modules; another service with the same dependencies and no scripts must not get it;
 *   - a daemon: a postinstall starts a detached process (new session, double fork, empty
 *     environment); it must be gone when the build ends (the poisoner's postinstall does this too:
 *     one build, two attacks);
 *   - the scripts run as a uid of their build alone, which cannot write npm's shared cache.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tar from 'tar';
import type { FinishedJob } from '../../src/deploy/jobs.ts';
import { startApi, type Api } from '../api/helpers.ts';
import { ensureBuildIsolationTools } from '../helpers/build-isolation.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

/** Every build of the file, one after the other (builds run one at a time), with a cold npm cache (a first run; test/helpers/npm-cache.ts keeps it warm after). */
const ALL_BUILDS_MS = 8 * 60_000;
const SECRET = 'env-secret';
const asRoot = process.getuid?.() === 0;
/** In the daemon's command line, so the test can find it in /proc from outside the build. */
const DAEMON_MARK = `flexd-daemon-${process.pid}-${Date.now()}`;
/** What the poisoning postinstall appends to the SDK's main file. */
const POISON = 'global.__flexdPoisoned = true;';

const SERVICE = `'use strict';
const fs = require('fs');
const path = require('path');
const sdk = require('kinvey-flex-sdk');
sdk.service({ sharedSecret: process.env.FLEX_SHARED_SECRET }, (err, flex) => {
  if (err) throw err;
  flex.functions.register('evidence', (context, complete) => {
    const main = require.resolve('kinvey-flex-sdk');
    const read = (name) => { try { return JSON.parse(fs.readFileSync(path.join(__dirname, name), 'utf8')); } catch (e) { return e.code; } };
    complete().setBody({ poisoned: global.__flexdPoisoned === true || fs.readFileSync(main, 'utf8').includes('__flexdPoisoned'), built: read('built-by.json'), daemon: read('daemon.json') }).ok().next();
  });
});
`;

/** A postinstall that patches the installed SDK and reports who it ran as. */
const PATCH_SDK = `'use strict';
const fs = require('fs');
const path = require('path');
const root = process.env.INIT_CWD || process.cwd();
const main = require.resolve('kinvey-flex-sdk', { paths: [root] });
fs.appendFileSync(main, ${JSON.stringify(`\n${POISON}\n`)});
let cacheWrite = 'written';
try { fs.writeFileSync(path.join(process.argv[2], 'planted-by-a-build'), 'x'); } catch (e) { cacheWrite = e.code; }
fs.writeFileSync(path.join(root, 'built-by.json'), JSON.stringify({ uid: process.getuid(), cacheWrite }));
`;

/**
 * A postinstall that leaves a daemon (setsid, double fork, empty environment), then looks for it
 * in /proc until it runs (the daemon's own command line carries DAEMON_MARK as an argument) and
 * says in daemon.json, which ships with the project, that it saw it: the attack did start one.
 */
const LEAVE_DAEMON = `'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const inner = "setInterval(() => {}, 1000)";
const outer = "require('child_process').spawn(process.execPath, ['-e', " + JSON.stringify(inner) + ", '${DAEMON_MARK}'], { detached: true, stdio: 'ignore', env: {} }).unref()";
spawn('setsid', [process.execPath, '-e', outer], { detached: true, stdio: 'ignore', env: {} }).unref();
const running = () => fs.readdirSync('/proc').some((p) => {
  try { return /^\\d+$/.test(p) && fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split('\\0').includes('${DAEMON_MARK}'); } catch { return false; }
});
const deadline = Date.now() + 60000;
(function look() {
  const seen = running();
  if (seen || Date.now() > deadline) fs.writeFileSync(path.join(process.env.INIT_CWD || process.cwd(), 'daemon.json'), JSON.stringify({ seen }));
  else setTimeout(look, 20);
})();
`;

interface Deployed { job: FinishedJob; serviceId: string; environmentId: string }

describe('builds cannot reach each other', { skip: !asRoot && 'the build uids and the daemon hunt need root' }, () => {
  const cleanup = new CleanupStack();
  let api: Api;
  let work: string;
  let npmCache: string;
  const deploys = new Map<string, Promise<Deployed>>();
  const deployed = (name: string) => withDeadline(`the deploy of ${name}`, deploys.get(name)!, ALL_BUILDS_MS);

  const project = (name: string, pkg: Record<string, unknown>, files: Record<string, string>) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', ...pkg }, null, 2));
    writeFileSync(join(dir, 'index.js'), SERVICE);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    return dir;
  };

  const upload = async (name: string, dir: string): Promise<Deployed> => {
    const target = await api.createEnvironment(name);
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: dir, portable: true }, readdirSync(dir))) chunks.push(chunk as Buffer);
    const accepted = await api.upload({ serviceId: target.serviceId, serviceEnvironmentId: target.environmentId, version: '1.0.0' }, Buffer.concat(chunks));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const job = await api.rt.context.deployer.jobs.wait(accepted.body.job);
    return { ...target, job };
  };

  const evidence = async (d: Deployed) => {
    const res = await withDeadline('POST evidence', fetch(`${api.rt.url}/flex/${d.serviceId}/${d.environmentId}/_flexFunctions/evidence`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-key': SECRET }, body: '{}',
    }), 30_000);
    const body = await res.json() as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.response.body as { poisoned: boolean; built: { uid: number; cacheWrite?: string } | string; daemon: { seen: boolean } | string };
  };

  before(async () => {
    const missing = ensureBuildIsolationTools();
    assert.equal(missing, undefined, missing);
    work = await tempDir(cleanup, 'flexd-security-builds-');
    chmodSync(work, 0o755);
    npmCache = await warmNpmCache(cleanup);
    // The default uid range: flexd claims the first one no other flexd on this host holds (a fixed
    // one is refused while another suite's runtime holds it).
    api = await startApi(cleanup, { npmCacheDir: npmCache });
    assert.equal((await api.rt.context.deployer.buildIsolation()).mode, 'namespace', 'builds get a pid namespace here');
    const sdk = { 'kinvey-flex-sdk': '^3.0.0' };
    // In order (builds run one at a time): each attacker builds first, its victim after.
    const chain: [string, () => string][] = [
      ['poisoner', () => project('poisoner', { dependencies: sdk, scripts: { postinstall: `node patch.js ${npmCache} && node daemon.js` } }, { 'patch.js': PATCH_SDK, 'daemon.js': LEAVE_DAEMON })],
      ['victim', () => project('victim', { dependencies: sdk }, {})],
      ['local-poisoner', () => project('local-poisoner', { dependencies: { ...sdk, helper: 'file:./helper' } }, {
        'helper/package.json': JSON.stringify({ name: 'helper', version: '1.0.0', scripts: { postinstall: `node patch.js ${npmCache}` } }),
        'helper/patch.js': PATCH_SDK,
      })],
      ['local-victim', () => project('local-victim', { dependencies: { ...sdk, helper: 'file:./helper' } }, {
        'helper/package.json': JSON.stringify({ name: 'helper', version: '1.0.0', scripts: { postinstall: `node patch.js ${npmCache}` } }),
        'helper/patch.js': '// the same package.json, harmless code\n',
      })],
    ];
    let previous: Promise<unknown> = Promise.resolve();
    for (const [name, make] of chain) {
      const started = previous.then(() => upload(name, make()), () => upload(name, make()));
      deploys.set(name, started);
      started.catch(() => {});
      previous = started;
    }
  });
  after(() => cleanup.run());

  it('a project\'s postinstall that patches a dependency does not reach another service with the same dependencies', async () => {
    const poisoner = await deployed('poisoner');
    assert.equal(poisoner.job.status, 'COMPLETED', poisoner.job.progress);
    assert.equal((await evidence(poisoner)).poisoned, true, 'the attack works on its own service (the test is not vacuous)');
    const victim = await deployed('victim');
    assert.equal(victim.job.status, 'COMPLETED', victim.job.progress);
    assert.doesNotMatch(victim.job.progress, /reusing its installed tree/, 'the victim never reuses the poisoner\'s tree');
    assert.equal((await evidence(victim)).poisoned, false);
  });

  it('a local file: package\'s postinstall does not reach another service whose package has the same package.json', async () => {
    const poisoner = await deployed('local-poisoner');
    assert.equal(poisoner.job.status, 'COMPLETED', poisoner.job.progress);
    assert.equal((await evidence(poisoner)).poisoned, true);
    const victim = await deployed('local-victim');
    assert.equal(victim.job.status, 'COMPLETED', victim.job.progress);
    assert.equal((await evidence(victim)).poisoned, false);
  });

  it('install scripts run as a uid of their build alone, not the fetch account, and cannot write npm\'s shared cache', async () => {
    const a = await evidence(await deployed('poisoner'));
    const b = await evidence(await deployed('local-poisoner'));
    for (const built of [a.built, b.built]) {
      assert.equal(typeof built, 'object', JSON.stringify(built));
      const { uid, cacheWrite } = built as { uid: number; cacheWrite: string };
      const fetchAccount = api.rt.context.settings.uidRangeStart;
      assert.ok(uid > fetchAccount, `scripts ran as ${uid}, not the fetch account ${fetchAccount}`);
      assert.ok(uid !== 0);
      assert.equal(cacheWrite, 'EACCES', 'npm\'s shared cache is not the scripts\' to write');
    }
    assert.notEqual((a.built as { uid: number }).uid, (b.built as { uid: number }).uid, 'two builds, two uids');
    assert.ok(!readdirSync(npmCache).includes('planted-by-a-build'));
  });

  it('a daemon a postinstall started (new session, double fork, empty environment) is gone when the build ends', async () => {
    const d = await deployed('poisoner');
    assert.equal(d.job.status, 'COMPLETED', d.job.progress);
    assert.deepEqual((await evidence(d)).daemon, { seen: true }, 'the daemon was running during the build (the attack did start one)');
    assert.deepEqual(daemonPids(), [], 'no process of the build is left');
  });
});

/** Pids of processes whose command line carries the daemon's mark. */
function daemonPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(DAEMON_MARK)) pids.push(Number(name));
    } catch { /* gone */ }
  }
  return pids;
}
