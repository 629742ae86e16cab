/**
 * The start cache (src/child/start-cache.ts): the first replica of a version loads the service
 * plain and leaves its module resolutions and V8 code cache in the version's cache folder; the
 * next replica loads with them. Loading that way must not show: `module.parent`, `require.main`,
 * `require.cache`, `require` itself, the line and column of a stack frame and of an error thrown
 * while a module loads are the same for the cached replica, the first replica and `node .`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { startStandalone } from '../helpers/standalone.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/start-cache/', import.meta.url));
const SERVICE = 'cache';
const ENVIRONMENT = 'Development';
const DEPLOY_TIMEOUT_MS = 120_000;
const ANSWER_TIMEOUT_MS = 30_000;

interface Probe { pid: number; modules: number; [key: string]: unknown }

async function probe(base: string, label: string): Promise<Probe> {
  const res = await withDeadline(label, fetch(`${base}/_flexFunctions/probe`, { method: 'POST', signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) }), ANSWER_TIMEOUT_MS + 1_000);
  const text = await res.text();
  assert.equal(res.status, 200, `${label}: ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { response: { body: Probe } }).response.body;
}

/** The start cache folders of the runtime's current run dir (flexd records its path in the data dir). */
function startCacheFiles(dataDir: string): { paths: string[]; code: string[] } {
  const runDir = readFileSync(join(dataDir, 'run-dir'), 'utf8').trim();
  const found = { paths: [] as string[], code: [] as string[] };
  for (const env of readdirSync(runDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    const envDir = join(runDir, env.name);
    for (const name of readdirSync(envDir).filter((n) => n.startsWith('c-'))) {
      const root = join(envDir, name, process.version);
      if (existsSync(join(root, 'paths.json'))) found.paths.push(join(root, 'paths.json'));
      if (existsSync(join(root, 'code'))) found.code.push(...readdirSync(join(root, 'code')));
    }
  }
  return found;
}

describe('a replica started with its version\'s start cache loads the service as `node .` does', () => {
  const cleanup = new CleanupStack();
  after(() => cleanup.run());
  let rt: Runtime;
  let dataDir: string;
  let base: string;

  before(async () => {
    dataDir = await tempDir(cleanup, 'flexd-start-cache-');
    rt = await createRuntime({ dataDir, port: 0 });
    cleanup.after(() => rt.close());
    await withDeadline('deploy', rt.deployDirectory(FIXTURE, { service: SERVICE, environment: ENVIRONMENT }), DEPLOY_TIMEOUT_MS);
    base = `${rt.url}/flex/${SERVICE}/${ENVIRONMENT}`;
  });

  test('the first replica leaves the cache; the next one, started from it, answers the same', async (t) => {
    const first = await probe(base, 'the first replica');
    const files = await waitFor('the first replica to write its start cache', () => {
      const f = startCacheFiles(dataDir);
      return f.paths.length > 0 && f.code.length > 0 ? f : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // The SDK and its dependencies: about two hundred modules.
    assert.ok(files.code.length > 100, `only ${files.code.length} modules in the code cache`);
    const paths = JSON.parse(readFileSync(files.paths[0]!, 'utf8')) as Record<string, string>;
    assert.ok(Object.values(paths).some((p) => p.endsWith('/kinvey-flex-sdk/lib/flex.js')), 'the resolutions name the SDK');

    const env = (await rt.context.store.services.findEnvironment((await rt.context.store.services.findService(SERVICE))!.id, ENVIRONMENT))!;
    const recycle = await rt.context.deployer.recycle(env.serviceId, env.id, null);
    const done = await withDeadline('recycle', rt.context.deployer.jobs.wait(recycle.id), DEPLOY_TIMEOUT_MS);
    assert.equal(done.status, 'COMPLETED', done.progress);
    const cached = await probe(base, 'the replica started from the cache');
    assert.notEqual(cached.pid, first.pid, 'a new replica answered');

    const { pid: _p1, ...firstRest } = first;
    const { pid: _p2, ...cachedRest } = cached;
    assert.deepStrictEqual(cachedRest, firstRest);

    const standalone = await startStandalone({ projectDir: FIXTURE, env: { NODE_ENV: ENVIRONMENT } }, t);
    const reference = await probe(standalone.url, '`node .`');
    // The module count differs by design: `node .` also holds Express and the real task runner.
    const { pid: _p3, modules: _m1, ...referenceRest } = reference;
    const { modules: _m2, ...cachedComparable } = cachedRest;
    assert.deepStrictEqual(cachedComparable, referenceRest);
    assert.match(String((cached.probe as { where: string }).where), /lib\/probe\.js:4:10\)$/);
    assert.match((cached.loadError as { frames: string[] }).frames.join('\n'), /lib\/broken\.js:3:28\)[\s\S]*lib\/broken\.js:4:1\)/);
  });
});
