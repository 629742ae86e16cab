/**
 * Issue 17: versions share their dependency tree instead of writing it out again, so one
 * version's replica must not be able to change another version's files. As root each
 * environment runs as its own account and cannot reach the trees or another version's folder;
 * without root Node's permission model is the only wall. Both are attacked here: the account
 * alone (permission model off, as root), both together, and the permission model alone (flexd
 * run as the ordinary account `nobody`). What the replica writes through its own folder —
 * even into node_modules — stays in its view; the rolled-back version reads the tree as built.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CleanupStack, cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, REPO_DIR, startRuntime } from '../lifecycle/helpers.ts';
import { attackOtherVersions, type WallsReport } from './walls-scenario.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/layout/cwd/', import.meta.url));
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
/** Three deploys, a rollback and the attack, in a runtime of its own on a loaded machine. */
const SCENARIO_MS = 3 * DEPLOY_TIMEOUT_MS;

function assertWalled(report: WallsReport, refusal: RegExp, treeWritable = true): void {
  // The runtime's tree and the other environment's version folder at least (and each environment's own copy of the tree, in overlay mode as root).
  assert.ok(Object.keys(report.tampered).length >= 2, `the files attacked: ${Object.keys(report.tampered).join(', ')}`);
  for (const [path, outcomes] of Object.entries(report.tampered)) {
    assert.deepEqual(Object.keys(outcomes).sort(), ['chmod', 'unlink', 'write'], `every attack was tried on ${path}`);
    for (const [what, outcome] of Object.entries(outcomes)) assert.match(outcome, refusal, `${what} ${path}: ${JSON.stringify(report.tampered)}`);
    assert.equal(report.unchanged[path], true, `${path} is as it was`);
  }
  if (treeWritable) assert.equal(report.attackerSees, 'changed by 1.0.1', 'the replica\'s own view of node_modules is writable, as under node .');
  else assert.match(report.attackerSees, /"name": "kinvey-flex-sdk"/, 'copy mode as root: node_modules is hard links of flexd\'s tree, read-only to the replica');
  assert.match(report.rollbackSees, /"name": "kinvey-flex-sdk"/, 'the rolled-back version reads the tree as it was built');
  assert.match(report.victimSees, /"name": "kinvey-flex-sdk"/, 'the other environment, on the same tree, reads it as it was built');
  assert.equal(report.sharedTrees, 1, 'both environments\' versions start from one tree written out for the runtime');
}

for (const permissionModel of [false, true]) {
  test(`versions: a replica cannot change the tree its environment's versions share, nor another environment's version — as root, permission model ${permissionModel ? 'on' : 'off'}`,
    { skip: !asRoot && 'needs root (the ordinary account is the next test)' }, async (t) => {
      const cleanup = cleanupStack(t);
      const h = await startRuntime(cleanup, { permissionModel });
      const report = await withDeadline('the attack', attackOtherVersions(h.rt, h.dataDir, FIXTURE), SCENARIO_MS);
      assertWalled(report, permissionModel ? /^(EACCES|ERR_ACCESS_DENIED)$/ : /^EACCES$/);
    });
}

test('versions: the same attack when replicas get a private copy (no namespaces), as root', { skip: !asRoot && 'needs root' }, async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { replicaFolder: 'copy', readyTimeoutMs: 90_000 });
  const report = await withDeadline('the attack', attackOtherVersions(h.rt, h.dataDir, FIXTURE), SCENARIO_MS);
  assertWalled(report, /^(EACCES|ERR_ACCESS_DENIED)$/, false);
});

/** The attack in a flexd run as `nobody` (through tsx): one process for both replica folder modes, one runtime each. */
const SCRIPT = `
import { createRuntime } from ${JSON.stringify(join(REPO_DIR, 'src/runtime.ts'))};
import { attackOtherVersions } from ${JSON.stringify(join(REPO_DIR, 'test/layout/walls-scenario.ts'))};
const [work, fixture, ...modes] = process.argv.slice(2);
const out = { uid: process.getuid(), reports: {} };
for (const replicaFolder of modes) {
  const dataDir = work + '/data-' + replicaFolder;
  const rt = await createRuntime({ dataDir, port: 0, replicaFolder, readyTimeoutMs: 90_000 });
  try {
    out.reports[replicaFolder] = await attackOtherVersions(rt, dataDir, fixture);
  } catch (err) {
    out.reports[replicaFolder] = { error: String(err.stack) + String(err.debug ?? '') };
  }
  await rt.close();
}
process.stdout.write(JSON.stringify(out));
`;
const UNPRIVILEGED_MODES = ['auto', 'copy'] as const;

describe('versions without root', { skip: !asRoot && 'needs root to start flexd as another account' }, () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let out: { uid: number; reports: Record<string, WallsReport & { error?: string }> };

  before(async () => {
    const work = await tempDir(suite, 'flexd-walls-nobody-');
    chmodSync(work, 0o755);
    const script = join(work, 'attack.mts');
    writeFileSync(script, SCRIPT);
    chownSync(work, NOBODY, NOBODY);
    chownSync(script, NOBODY, NOBODY);
    const child = spawn(process.execPath, ['--import', 'tsx', script, work, FIXTURE, ...UNPRIVILEGED_MODES], {
      cwd: REPO_DIR, env: { PATH: process.env.PATH, HOME: work, TMPDIR: work }, uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'],
    });
    suite.after(() => { child.kill('SIGKILL'); });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const code = await withDeadline('the unprivileged flexd to run the attack', new Promise((resolve) => child.once('close', resolve)), UNPRIVILEGED_MODES.length * SCENARIO_MS);
    assert.equal(code, 0, stderr.slice(-3000));
    out = JSON.parse(stdout);
  });

  for (const replicaFolder of UNPRIVILEGED_MODES) {
    test(`versions: without root the permission model alone keeps a replica off the shared tree and other versions (replicaFolder ${replicaFolder})`, () => {
      assert.equal(out.uid, NOBODY);
      const report = out.reports[replicaFolder]!;
      assert.ok(report && !report.error, report?.error ?? `no report for ${replicaFolder}`);
      // Without root even copy mode gives the replica a tree of its own: its node_modules is writable.
      assertWalled(report, /^ERR_ACCESS_DENIED$/);
    });
  }
});
