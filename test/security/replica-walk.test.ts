/**
 * Issue 15, finding 3, a replica walking out of its project: a project ships links (`self -> .`,
 * `up -> ..`, `lib/root -> ..`, `abs -> /`) and its service reads files outside the project by
 * every spelling — a link to the project root followed by `..` (lexically inside the project,
 * so Node's permission model lets it pass), absolute and relative paths, links it makes itself
 * in its writable folder. None reads anything: the artifact holds no link (src/deploy/pack-script.ts)
 * and the permission model refuses the rest. Here as root (the account is a wall too); as
 * `nobody` (the permission model is the only wall), in the one `flexd serve` as nobody of
 * test/isolation/not-root.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';
import { callFunction, DEPLOY_TIMEOUT_MS, startRuntime } from '../lifecycle/helpers.ts';
import { assertWalledIn, outsideSecret, walkerWithLinks } from './walker.ts';

test('a replica reads nothing outside its project by any spelling: shipped links followed by .., absolute, relative, links it makes', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  const secret = await outsideSecret(cleanup);
  const project = await walkerWithLinks(cleanup);
  await withDeadline('deploy of the walker', h.rt.deployDirectory(project, { service: 'walker', environment: 'Development' }), DEPLOY_TIMEOUT_MS);
  const targets = [secret, join(h.dataDir, 'flexd.db'), '/etc/hostname'];
  const res = await callFunction(h.base('walker', 'Development'), 'walk', { body: { targets } }, { timeoutMs: 15_000 });
  assert.equal(res.status, 200, res.text);
  assertWalledIn(res.answer, targets);
});
