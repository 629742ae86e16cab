/**
 * Issue 9, findings 2 and 5: one account per environment (as root), Node's permission model as a
 * second wall, and a fresh private run dir. The attack: a service that scans /proc and the data
 * dir for another environment's variable and secret, and signals its replicas.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRuntime } from '../../src/index.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { callFunction, deployFixture, failedDeploy, presetEnvironment, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { deployIsolationFixture } from './helpers.ts';

const asRoot = process.getuid?.() === 0;
/** What the attacker reports for an attempt that failed: the error's code (EACCES, EPERM, ERR_ACCESS_DENIED…). */
const REFUSAL = /^(E[A-Z]+|ERR_[A-Z_]+)$/;

for (const permissionModel of [true, false]) {
  const wall = permissionModel ? 'under the permission model' : 'with the permission model off (the account alone)';
  test(`accounts: a service hunting another environment's variable and secret in /proc and the data dir, and signalling its replicas, finds and kills nothing — ${wall}`,
    { skip: !permissionModel && !asRoot && 'without root the account wall does not exist' }, async (t) => {
      const cleanup = cleanupStack(t);
      const h = await startRuntime(cleanup);
      const marker = `marker-${randomBytes(12).toString('hex')}`;
      const secret = `secret-${randomBytes(12).toString('hex')}`;
      const victim = { service: 'victim', environment: 'Production', secret, env: { VICTIM_MARKER: marker } };
      const attacker = { service: 'attacker', environment: 'Production', env: { SNOOP_DATA_DIR: h.dataDir } };
      await deployIsolationFixture(h, 'neighbour', victim);
      await presetEnvironment(h, { ...attacker, settings: { permissionModel } });
      await deployIsolationFixture(h, 'neighbour', attacker);

      const before = await whoami(h.base(victim.service, victim.environment), 'the victim', { secret });
      const res = await callFunction(h.base(attacker.service, attacker.environment), 'attack', { body: { marker, secret } });
      assert.equal(res.status, 200, res.text);
      const report = res.answer;
      assert.deepEqual(report.found, [], JSON.stringify(report.seen));
      const seen = JSON.stringify(report.seen);
      // Every attempt must have been made and refused with an error code: an absent outcome is no proof.
      const refused = (outcome: unknown, what: string) => assert.match(String(outcome), REFUSAL, `${what}: ${seen}`);
      refused(report.seen.database, 'reading flexd.db');
      refused(report.seen.dataDir, 'listing the data dir');
      refused(report.seen.flexdEnviron, 'reading flexd\'s environ');
      if (permissionModel) {
        assert.equal(report.seen.procList, 'ERR_ACCESS_DENIED');
      } else {
        assert.ok(report.replicas >= 1, `without the permission model it sees the victim's replica (and must still not touch it): ${seen}`);
        for (const attempt of ['kill', 'environ', 'mem']) assert.equal(report.seen[attempt]?.length, report.replicas, `one ${attempt} attempt per replica seen: ${seen}`);
        assert.ok(report.seen.artifact?.length >= 1, `the attacker found an artifact folder to read in a replica's command line: ${seen}`);
        for (const attempt of ['kill', 'environ', 'mem', 'artifact']) for (const outcome of report.seen[attempt]) refused(outcome, attempt);
      }

      const after = await whoami(h.base(victim.service, victim.environment), 'the victim after the attack', { secret });
      assert.equal(after.pid, before.pid, 'the victim\'s replica survived');
    });
}

test('accounts: as root each environment runs as its own uid from the range; its version folders and tmp dir are private to it', { skip: !asRoot && 'flexd is not running as root here' }, async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  await deployIsolationFixture(h, 'neighbour', { service: 'one', environment: 'Production' });
  await deployIsolationFixture(h, 'neighbour', { service: 'two', environment: 'Production' });
  const uids = new Set<number>();
  for (const service of ['one', 'two']) {
    const res = await callFunction(h.base(service, 'Production'), 'whoami');
    const env = (await h.rt.context.store.services.getEnvironment(h.environmentId(service, 'Production')))!;
    // The range this runtime claimed (the first one no other flexd on this host holds): its start is the build account.
    const uid = h.rt.context.settings.uidRangeStart + 1 + env.accountSlot;
    assert.equal(res.answer.uid, uid);
    uids.add(uid);
    const runDir = readFileSync(join(h.dataDir, 'run-dir'), 'utf8').trim();
    const envDir = join(runDir, env.id);
    const e = lstatSync(envDir);
    assert.deepEqual([e.uid, e.gid, e.mode & 0o777], [0, uid, 0o750], 'the environment\'s folder: flexd\'s, entered by this environment alone');
    const [artifact] = readdirSync(envDir).filter((n) => n.startsWith('v-'));
    const a = lstatSync(join(envDir, artifact!));
    assert.deepEqual([a.uid, a.mode & 0o777], [0, 0o700], 'a version\'s folder: reached by its replicas only through their own view of it');
    assert.equal(lstatSync(join(envDir, artifact!, 'index.js')).uid, uid, 'its files are the environment\'s, as a checkout is its user\'s');
    assert.deepEqual([lstatSync(join(envDir, 'trees')).uid, lstatSync(join(envDir, 'trees')).mode & 0o777], [0, 0o700], 'dependency trees: flexd\'s alone');
    for (const name of readdirSync(join(envDir, 'replicas'))) {
      const w = lstatSync(join(envDir, 'replicas', name, 'tmp'));
      assert.deepEqual([w.uid, w.mode & 0o777], [uid, 0o700]);
    }
  }
  assert.equal(uids.size, 2);
  assert.equal(lstatSync(h.dataDir).mode & 0o777, 0o711, 'the data dir: the build account passes through to its box, nobody lists it');
  assert.equal(lstatSync(join(h.dataDir, 'flexd.db')).mode & 0o777, 0o600);
});

test('accounts: the run dir is created fresh and private; a link planted at the old predictable path is never followed', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-rundir-');
  const victimDir = await tempDir(cleanup, 'flexd-victim-');
  const predictable = join(tmpdir(), `flexd-run-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
  rmSync(predictable, { force: true, recursive: true });
  symlinkSync(victimDir, predictable);
  cleanup.after(() => rmSync(predictable, { force: true }));

  const first = await createRuntime({ dataDir, port: 0 });
  await first.deployDirectory(join(import.meta.dirname, '../fixtures/isolation/neighbour'), { service: 'n', environment: 'Development' });
  const runDir = readFileSync(join(dataDir, 'run-dir'), 'utf8').trim();
  const st = lstatSync(runDir);
  assert.ok(st.isDirectory() && !st.isSymbolicLink());
  assert.equal(st.uid, process.getuid!());
  assert.equal(st.mode & 0o777, asRoot ? 0o711 : 0o700);
  assert.notEqual(runDir, predictable);
  assert.deepEqual(readdirSync(victimDir), [], 'nothing written through the planted link');
  await first.close();
  assert.equal(existsSync(runDir), false, 'a clean stop removes the run dir');

  // A run dir left by a flexd killed with -9 is removed at the next start; another one is made.
  mkdirSync(runDir, { mode: 0o700 });
  const second = await createRuntime({ dataDir, port: 0 });
  cleanup.after(() => second.close());
  assert.equal(existsSync(runDir), false);
  assert.notEqual(readFileSync(join(dataDir, 'run-dir'), 'utf8').trim(), runDir);
});

test('accounts: under the permission model a service cannot start a process; an environment that opts out can', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const err = await failedDeploy(h, cleanup, 'spawns-helper', '1.0.0', { service: 'walled', environment: 'Development' });
  assert.match(err.debug ?? err.message, /ERR_ACCESS_DENIED|Access to this API has been restricted/);
  await deployFixture(h, cleanup, 'spawns-helper', '1.0.0', { service: 'open', environment: 'Development', settings: { permissionModel: false } });
  assert.equal((await callFunction(h.base('open', 'Development'), 'whoami')).status, 200);
});

test('accounts: flexd says at start which isolation is in force', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-says-');
  const lines: string[] = [];
  const record = (_fields: Record<string, unknown>, msg: string) => { lines.push(msg); };
  const rt = await createRuntime({ dataDir, port: 0, logger: { debug: record, info: record, warn: record, error: record } });
  cleanup.after(() => rt.close());
  const said = lines.find((l) => l.startsWith('replica isolation: '));
  assert.ok(said, lines.join('\n'));
  if (asRoot) assert.match(said, /own account \(uid \d+ and up\).*permission model/);
  else assert.match(said, /not root.*permission model/);
});
