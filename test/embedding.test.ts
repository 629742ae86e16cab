/**
 * SPEC §7: `import { createRuntime } from 'flexd'` works in a script run with `npx tsx` from the
 * project root, and a runtime given no logger prints nothing of its own: the script's process
 * writes its one result line and nothing else, on either stream, through create, a deploy (whose
 * service logs as it starts), a request and close. Its own process, so a write by any
 * path (console, a worker thread, fd 1 or 2, a replica's inherited output) would show.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { serveEnv } from './helpers/serve.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

it('embedding: a script importing createRuntime from "flexd" starts a runtime, deploys and is answered, and the runtime prints nothing', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--conditions=flexd-source', '--import', 'tsx', 'test/fixtures/embed/embed.ts'], { cwd: ROOT, env: serveEnv(), timeout: 120_000 });
  assert.equal(stderr, '', 'nothing on stderr');
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `only the script's own line on stdout:\n${stdout}`);
  const result = JSON.parse(lines[0]!);
  assert.match(result.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(result.status, 200);
  assert.deepEqual(result.body, { version: '1.0.0' });
});
