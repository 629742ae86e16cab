/** Projects and requests the embedding API's tests share. */
import { cp, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const REPO_NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** A deploy whose dependencies resolve from the repo (no npm install); generous for a loaded machine. */
export const DEPLOY_TIMEOUT_MS = 120_000;

/** A copy of `test/fixtures/<fixture>` in a temp dir, its node_modules the repo's (a link). */
export async function projectCopy(t: CleanupContext, fixture: string): Promise<string> {
  const dir = await tempDir(t, `flexd-${fixture.replace(/\W+/g, '-')}-`);
  await cp(join(FIXTURES, fixture), dir, { recursive: true });
  await symlink(REPO_NODE_MODULES, join(dir, 'node_modules'), 'dir');
  return dir;
}

export interface Counted { status: number; version: string | null; calls: number; KEY: string | null; ownVersion: string }

/** Calls embed-counter's `count` function. */
export async function count(url: string, service: string, environment: string, secret?: string): Promise<Counted> {
  const { res, body } = await withDeadline('POST /_flexFunctions/count', (async () => {
    const res = await fetch(`${url}/flex/${service}/${environment}/_flexFunctions/count`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...(secret ? { 'X-Auth-Key': secret } : {}) }, body: '{}',
    });
    return { res, body: await res.json() as { response?: { body?: { calls: number; KEY: string | null; version: string } } } };
  })(), 30_000);
  return { status: res.status, version: res.headers.get('x-flexd-version'), calls: body.response?.body?.calls ?? -1, KEY: body.response?.body?.KEY ?? null, ownVersion: body.response?.body?.version ?? '' };
}
