/** Unpacked artifacts are a cache of SQLite: a restart drops half-unpacked and orphaned ones, keeps the rest. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime } from '../src/runtime.ts';
import { cleanupStack } from './helpers/cleanup.ts';
import { KITCHEN_SINK_DIR } from './helpers/kitchen-sink.ts';
import { tempDir } from './helpers/tmp.ts';

it('artifacts: a restart removes half-unpacked and unknown artifact folders and keeps the stored versions\' ones', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup);
  const first = await createRuntime({ dataDir, port: 0 });
  await first.deployDirectory(KITCHEN_SINK_DIR, { service: 'art', environment: 'Development' });
  await first.close();
  // Where the artifacts live depends on whether flexd runs as root (supervisor/sandbox.ts).
  const artifacts = [join(dataDir, 'run', 'artifacts'), join(dataDir, 'artifacts')].find(existsSync)!;
  const [kept] = readdirSync(artifacts);
  mkdirSync(join(artifacts, `${kept}.tmp-4242`));
  mkdirSync(join(artifacts, 'f'.repeat(64)));

  const second = await createRuntime({ dataDir, port: 0 });
  cleanup.after(() => second.close());
  assert.deepEqual(readdirSync(artifacts), [kept]);
  const res = await fetch(`${second.url}/flex/art/Development/_flexFunctions/version`, { method: 'POST' });
  assert.equal(res.status, 200);
});
