/**
 * Where builds cannot get a pid namespace (src/isolation/build-namespace.ts): flexd still starts,
 * without waiting on the probe, and says once, with the host's own reason, what a build loses.
 * The host's refusal is the outside world (a kernel or container that forbids namespaces cannot
 * be made here), so `unshare` is a stand-in first on PATH that fails as util-linux's does there.
 * The other side (a namespace is made here) is what test/isolation/build-tmp.test.ts and
 * test/security/builds.test.ts check.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const REFUSAL = 'unshare: unshare failed: Operation not permitted';
const WARNING = 'builds cannot be put in a pid namespace here';

test('build namespace probe: where the host refuses a pid namespace, flexd starts and warns once in its life with the host\'s reason', async (t) => {
  const cleanup = cleanupStack(t);
  const work = await tempDir(cleanup, 'flexd-probe-');
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'unshare'), `#!/bin/sh\necho '${REFUSAL}' >&2\nexit 1\n`, { mode: 0o755 });

  const served = spawnServe(cleanup, ['--data-dir', join(work, 'data')], { bin: await installedFlexdBin(), env: serveEnv({ PATH: `${bin}:${process.env.PATH}` }), stopGently: { graceMs: 10_000 } });
  await withDeadline('flexd to listen', served.url, SERVE_START_TIMEOUT_MS);
  const warnings = () => served.output().split('\n').filter((line) => line.includes(WARNING));
  await waitFor('the build namespace warning', () => warnings().length > 0, { timeoutMs: 30_000 });
  const [warning] = warnings();
  assert.ok(warning!.includes(REFUSAL), `the host's reason is quoted: ${warning}`);
  assert.match(warning!, /leaves behind/, 'and what a build loses');

  // Once over the whole life of the process: counted when it has stopped, not at an instant.
  served.child.kill('SIGTERM');
  assert.equal((await withDeadline('flexd to stop', served.exited, SERVE_START_TIMEOUT_MS)).code, 0, served.output());
  assert.equal(warnings().length, 1, `said once: ${served.output()}`);
});
