/** SPEC §7: `import { createRuntime } from 'flexd'` works in a script run with `npx tsx` from the project root. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

it('embedding: a script importing createRuntime from "flexd" starts a runtime, deploys and is answered', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=flexd-source', '--import', 'tsx', 'test/fixtures/embed/embed.ts'], { cwd: ROOT, timeout: 60_000 });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.match(result.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(result.status, 200);
  assert.deepEqual(result.body, { version: '1.0.0' });
});
