/**
 * Issue 8, the build without root: flexd run as an ordinary account (here `nobody`, started by
 * this root test) has no build account to switch to. npm still runs in the sanitized install
 * folder with the box's minimal environment, the deploy says once that builds run as flexd's own
 * user, and the service answers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lchownTree } from '../../src/deploy/box.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/bench-service/', import.meta.url));
/** npm from a warm cache (the registry on a first run), then a replica start. */
const DEPLOY_MS = 5 * 60_000;

const SCRIPT = `
import { createRuntime } from ${JSON.stringify(join(REPO, 'src/index.ts'))};
const [dataDir, project, npmCacheDir] = process.argv.slice(2);
const rt = await createRuntime({ dataDir, port: 0, npmCacheDir });
let out;
try {
  const job = await rt.deployDirectory(project, { service: 'plain', environment: 'Development' });
  const res = await fetch(rt.url + '/flex/plain/Development/_flexFunctions/ping', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  out = { uid: process.getuid(), progress: job.progress, status: res.status, body: await res.json() };
} catch (err) {
  out = { uid: process.getuid(), error: String(err.message) + '\\n' + String(err.debug ?? '') };
}
await rt.close();
process.stdout.write(JSON.stringify(out));
`;

test('not root: a deploy that runs npm builds as flexd\'s own user, says so in its progress, and serves', { skip: !asRoot && 'needs root to start flexd as another account' }, async (t) => {
  const cleanup = cleanupStack(t);
  const work = await tempDir(cleanup, 'flexd-nonroot-build-');
  chmodSync(work, 0o755);
  const project = join(work, 'project');
  cpSync(FIXTURE, project, { recursive: true });
  const dataDir = join(work, 'data');
  const script = join(work, 'deploy.mts');
  writeFileSync(script, SCRIPT);
  for (const path of [work, project, join(project, 'index.js'), join(project, 'package.json'), script]) chownSync(path, NOBODY, NOBODY);
  // A warm npm cache, as a flexd that has built before has one: flexd's own user's, as it would be.
  const npmCache = await warmNpmCache(cleanup);
  lchownTree(npmCache, NOBODY, NOBODY);

  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work, TMPDIR: work, FLEXD_SOMETHING_SECRET: 'not for builds' };
  const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, project, npmCache], { cwd: REPO, env, uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => { stdout += c; });
  child.stderr.on('data', (c) => { stderr += c; });
  const code = await withDeadline('the unprivileged flexd to deploy and answer', new Promise((resolve) => child.once('close', resolve)), DEPLOY_MS);
  assert.equal(code, 0, stderr.slice(-2000));
  const out = JSON.parse(stdout);
  assert.equal(out.uid, NOBODY);
  assert.ok(!out.error, out.error);
  assert.match(out.progress, /flexd is not running as root: npm and install scripts run as flexd's own user/);
  assert.match(out.progress, /Installing dependencies with npm/);
  assert.equal(out.status, 200);
  assert.deepEqual(out.body.response.body, { pong: true });
});

