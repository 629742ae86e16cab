/**
 * Issue 16 item 8 through the embedding API: a rollback and a change of variables made by an
 * embedder (no account) are events too — on the server log and in the status page's recent
 * events — naming the variables, never their values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRuntime } from '../../src/runtime.ts';
import type { Logger } from '../../src/logger.ts';
import { recentEvents } from '../../src/ui/data.ts';
import { echoProjectAt } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

/** A deploy of a fixture whose SDK resolves from the repo (no npm install), or a swap, on a loaded machine: catches a hang. */
const DEPLOY_DEADLINE_MS = 120_000;

test('events: an embedder\'s rollback and setVariables reach the server log and the recent events, without values', async (t) => {
  const cleanup = cleanupStack(t);
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const record = (fields: object, msg?: string) => { lines.push({ msg: msg ?? '', fields: fields as Record<string, unknown> }); };
  const logger: Logger = { debug: record, info: record, warn: record, error: record };
  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-events-'), port: 0, logger });
  cleanup.after(() => rt.close());
  const target = { service: 'orders', environment: 'Development' };
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.0.0'), target), DEPLOY_DEADLINE_MS);
  await withDeadline('the deploy', rt.deployDirectory(await echoProjectAt(cleanup, '1.1.0'), target), DEPLOY_DEADLINE_MS);
  await withDeadline('the rollback', rt.rollback(target, '1.0.0'), DEPLOY_DEADLINE_MS);
  await withDeadline('the change of variables', rt.setVariables(target, { API_KEY: 'do-not-print-me' }), DEPLOY_DEADLINE_MS);

  const rolled = lines.find((l) => l.msg === 'rolled back');
  assert.deepEqual([rolled?.fields.from, rolled?.fields.to, 'by' in (rolled?.fields ?? {})], ['1.1.0', '1.0.0', false], 'no account: no by field');
  const changed = lines.find((l) => l.msg === 'environment changed');
  assert.equal(changed?.fields.changes, 'variables: API_KEY added');
  assert.doesNotMatch(JSON.stringify(lines), /do-not-print-me/);

  const events = recentEvents(rt.context).map((e) => e.text);
  assert.equal(events[0], 'replicas of 1.0.0 restarted to apply the change');
  assert.equal(events[1], 'changed: variables: API_KEY added');
  assert.equal(events[2], 'rolled back from 1.1.0 to 1.0.0');
});
