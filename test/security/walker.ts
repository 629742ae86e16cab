/**
 * The walker attack of test/security/replica-walk.test.ts (as root) and test/isolation/not-root.test.ts
 * (flexd as `nobody`): a project shipping links that lead out of it (`self -> .`, `up -> ..`,
 * `lib/root -> ..`, `abs -> /`), whose service reads files outside the project by every spelling
 * (test/fixtures/security/walker/) and tries to make links of its own.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { REPO_DIR } from '../lifecycle/helpers.ts';

const WALKER = fileURLToPath(new URL('../fixtures/security/walker/', import.meta.url));
const SECRET_TEXT = 'outside-the-project';
/** How many spellings of one target the walker tries (test/fixtures/security/walker/index.js). */
const SPELLINGS = 7;

/** A copy of the walker shipping links that lead out of it, its dependencies resolving from the repo. */
export async function walkerWithLinks(cleanup: CleanupContext): Promise<string> {
  const dir = await tempDir(cleanup, 'flexd-walker-');
  cpSync(WALKER, dir, { recursive: true });
  symlinkSync('.', join(dir, 'self'));
  symlinkSync('..', join(dir, 'up'));
  symlinkSync('..', join(dir, 'lib', 'root'));
  symlinkSync('/', join(dir, 'abs'));
  symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
  chmodSync(dir, 0o755);
  return dir;
}

/** A file any account may read by its mode: only flexd's walls keep a replica from it. */
export async function outsideSecret(cleanup: CleanupContext): Promise<string> {
  const dir = await tempDir(cleanup, 'flexd-outside-');
  chmodSync(dir, 0o755);
  const file = join(dir, 'secret.txt');
  writeFileSync(file, SECRET_TEXT, { mode: 0o644 });
  return file;
}

/** The walker's answer for `targets`: every spelling tried and refused, no link shipped or made. */
export function assertWalledIn(answer: any, targets: string[]): void {
  assert.deepEqual(answer.links, [], 'the artifact holds none of the shipped links');
  assert.ok(answer.control?.read?.includes('walker'), `a path inside the project reads (the walk is not vacuous): ${JSON.stringify(answer.control)}`);
  const tried = Object.keys(answer).filter((k) => k.includes(' ') && !k.startsWith('made '));
  assert.equal(tried.length, targets.length * SPELLINGS, `every spelling of every target was tried: ${tried.join(', ')}`);
  for (const how of tried) assert.equal(typeof answer[how]?.error, 'string', `${how}: refused with an error (${JSON.stringify(answer[how])})`);
  const read = Object.entries(answer).filter(([how, outcome]) => how !== 'control' && (outcome as { read?: string })?.read !== undefined);
  assert.deepEqual(read, [], 'nothing outside the project was read');
  for (const name of ['made mine-root', 'made mine-slash']) assert.equal(typeof answer[name]?.error, 'string', `${name}: a replica cannot make links (${JSON.stringify(answer[name])})`);
}
