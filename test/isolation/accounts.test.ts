/**
 * Issue 9, findings 2 and 5: one account per environment (as root), Node's permission model as a
 * second wall, and a fresh private run dir. The attack: a service that scans /proc and the data
 * dir for another environment's variable and secret, and signals its replicas.
 *
 * One runtime for the file: the victim and two attackers (one under the permission model, one,
 * as root, with it off: the account alone) live side by side, as tenants of one flexd do. Its
 * data dir's old predictable run dir path holds a planted link before it starts. (A run dir left
 * by a flexd killed with -9, and a clean stop's removal: test/layout/run-dir.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { callFunction, deployFixture, failedDeploy, presetEnvironment, startRuntime, whoami, type Harness, type Target } from '../lifecycle/helpers.ts';
import { deployIsolationFixture } from './helpers.ts';

const asRoot = process.getuid?.() === 0;
/** What the attacker reports for an attempt that failed: the error's code (EACCES, EPERM, ERR_ACCESS_DENIED…). */
const REFUSAL = /^(E[A-Z]+|ERR_[A-Z_]+)$/;

describe('accounts: a victim and its neighbours on one runtime', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let h: Harness;
  let dataDir: string;
  let plantedAt: string;
  let linkTarget: string;
  const said: string[] = [];
  const marker = `marker-${randomBytes(12).toString('hex')}`;
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  const victim: Target = { service: 'victim', environment: 'Production', secret, env: { VICTIM_MARKER: marker } };
  const attackers: Record<'walled' | 'open', Target> = {
    walled: { service: 'walled', environment: 'Production', settings: { permissionModel: true } },
    open: { service: 'open', environment: 'Production', settings: { permissionModel: false } },
  };

  before(async () => {
    dataDir = await tempDir(suite, 'flexd-accounts-');
    linkTarget = await tempDir(suite, 'flexd-victim-');
    // Where an older flexd put its run dir: a link planted there must never be followed.
    plantedAt = join(tmpdir(), `flexd-run-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
    rmSync(plantedAt, { force: true, recursive: true });
    symlinkSync(linkTarget, plantedAt);
    suite.after(() => rmSync(plantedAt, { force: true }));
    const record = (_fields: Record<string, unknown>, msg: string) => { said.push(msg); };
    h = await startRuntime(suite, { logger: { debug: record, info: record, warn: record, error: record } }, dataDir);
    await deployIsolationFixture(h, 'neighbour', victim);
    for (const which of asRoot ? ['walled', 'open'] as const : ['walled'] as const) {
      const attacker = { ...attackers[which], env: { SNOOP_DATA_DIR: h.dataDir } };
      await presetEnvironment(h, attacker);
      await deployIsolationFixture(h, 'neighbour', attacker);
    }
  });

  for (const permissionModel of [true, false]) {
    const wall = permissionModel ? 'under the permission model' : 'with the permission model off (the account alone)';
    test(`accounts: a service hunting another environment's variable and secret in /proc and the data dir, and signalling its replicas, finds and kills nothing — ${wall}`,
      { skip: !permissionModel && !asRoot && 'without root the account wall does not exist' }, async () => {
        const attacker = attackers[permissionModel ? 'walled' : 'open'];
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
          assert.equal(report.seen.procList, 'allowed', `without the permission model /proc is listed: ${seen}`);
          // The victim's and the walled attacker's replicas at least (and any other flexd's on this host).
          assert.ok(report.replicas >= 2, `without the permission model it sees its neighbours' replicas (and must still not touch them): ${seen}`);
          for (const attempt of ['kill', 'environ', 'mem', 'maps']) assert.equal(report.seen[attempt]?.length, report.replicas, `one ${attempt} attempt per replica seen: ${seen}`);
          assert.ok(report.seen.artifact?.length >= 1, `the attacker found an artifact folder to read in a replica's command line: ${seen}`);
          for (const attempt of ['kill', 'environ', 'mem', 'maps', 'artifact']) for (const outcome of report.seen[attempt]) refused(outcome, attempt);
        }

        const after = await whoami(h.base(victim.service, victim.environment), 'the victim after the attack', { secret });
        assert.equal(after.pid, before.pid, 'the victim\'s replica survived');
      });
  }

  test('accounts: as root each environment runs as its own uid from the range; its version folders and tmp dir are private to it', { skip: !asRoot && 'flexd is not running as root here' }, async () => {
    const uids = new Set<number>();
    const runDir = readFileSync(join(h.dataDir, 'run-dir'), 'utf8').trim();
    for (const service of [victim.service, attackers.walled.service, attackers.open.service]) {
      const res = await callFunction(h.base(service, 'Production'), 'whoami', {}, { secret: service === victim.service ? secret : undefined });
      assert.equal(res.status, 200, res.text);
      const env = (await h.rt.context.store.services.getEnvironment(h.environmentId(service, 'Production')))!;
      // The range this runtime claimed (the first one no other flexd on this host holds): its start is the build account.
      const uid = h.rt.context.settings.uidRangeStart + 1 + env.accountSlot;
      assert.equal(res.answer.uid, uid, `${service} runs as its own account`);
      uids.add(uid);
      const envDir = join(runDir, env.id);
      const e = lstatSync(envDir);
      assert.deepEqual([e.uid, e.gid, e.mode & 0o777], [0, uid, 0o750], 'the environment\'s folder: flexd\'s, entered by this environment alone');
      const [artifact] = readdirSync(envDir).filter((n) => n.startsWith('v-'));
      assert.ok(artifact, `a version folder in ${envDir}`);
      const a = lstatSync(join(envDir, artifact));
      assert.deepEqual([a.uid, a.mode & 0o777], [0, 0o700], 'a version\'s folder: reached by its replicas only through their own view of it');
      assert.equal(lstatSync(join(envDir, artifact, 'index.js')).uid, uid, 'its files are the environment\'s, as a checkout is its user\'s');
      assert.deepEqual([lstatSync(join(envDir, 'trees')).uid, lstatSync(join(envDir, 'trees')).mode & 0o777], [0, 0o700], 'dependency trees: flexd\'s alone');
      const replicas = readdirSync(join(envDir, 'replicas'));
      assert.equal(replicas.length, 1, `one replica folder for ${service}'s one replica`);
      for (const name of replicas) {
        const w = lstatSync(join(envDir, 'replicas', name, 'tmp'));
        assert.deepEqual([w.uid, w.mode & 0o777], [uid, 0o700], 'the replica\'s tmp dir: its account\'s alone');
      }
    }
    assert.equal(uids.size, 3);
    assert.equal(lstatSync(h.dataDir).mode & 0o777, 0o711, 'the data dir: the build account passes through to its box, nobody lists it');
    assert.equal(lstatSync(join(h.dataDir, 'flexd.db')).mode & 0o777, 0o600);
  });

  test('accounts: the run dir is created fresh and private; a link planted at the old predictable path is never followed', () => {
    const runDir = readFileSync(join(dataDir, 'run-dir'), 'utf8').trim();
    const st = lstatSync(runDir);
    assert.ok(st.isDirectory() && !st.isSymbolicLink());
    assert.equal(st.uid, process.getuid!());
    assert.equal(st.mode & 0o777, asRoot ? 0o711 : 0o700);
    assert.notEqual(runDir, plantedAt);
    assert.ok(lstatSync(plantedAt).isSymbolicLink(), 'the planted link is still there, untouched');
    assert.deepEqual(readdirSync(linkTarget), [], 'nothing written through the planted link');
  });

  test('accounts: under the permission model a service cannot start a process; an environment that opts out can', async (t) => {
    const err = await failedDeploy(h, t, 'spawns-helper', '1.0.0', { service: 'spawner', environment: 'Walled' });
    assert.match(err.debug ?? err.message, /ERR_ACCESS_DENIED|Access to this API has been restricted/);
    await deployFixture(h, t, 'spawns-helper', '1.0.0', { service: 'spawner', environment: 'Open', settings: { permissionModel: false } });
    const res = await callFunction(h.base('spawner', 'Open'), 'whoami');
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.answer.helper, 'number', 'its helper process started');
  });

  test('accounts: flexd says at start which isolation is in force', () => {
    const line = said.find((l) => l.startsWith('replica isolation: '));
    assert.ok(line, said.join('\n'));
    if (asRoot) assert.match(line, /own account \(uid \d+ and up\).*permission model/);
    else assert.match(line, /not root.*permission model/);
  });
});
