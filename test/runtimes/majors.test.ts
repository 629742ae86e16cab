/**
 * Issue 18: each environment runs on the Node major it chose. One fixture is deployed to three
 * environments on node20, node22 and node24 of one flexd; each answers with its own Node, keeps
 * the permission model, its working directory and faithful stack traces, and answers as the same
 * project run with `node .` by the same binary does. Releases come from the npm registry into a
 * cache shared by the test files (helpers/runtimes.ts).
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ADMIN, startApi, type Api } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { RUNTIME_INSTALL_TIMEOUT_MS, RUNTIMES_CACHE_DIR } from '../helpers/runtimes.ts';
import { startStandalone } from '../helpers/standalone.ts';
import { callFunction } from '../lifecycle/helpers.ts';
import { withDeadline } from '../helpers/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/runtimes/version/', import.meta.url));
const SECRET = 'runtimes-secret';
const MAJORS = [20, 22, 24] as const;
/** A replica's answer; a cold start on a loaded box included. */
const ANSWER_MS = 30_000;

describe('runtimes: one fixture on node20, node22 and node24', () => {
  const cleanup = cleanupStack({ after });
  let api: Api;
  const progress = new Map<number, string>();
  const ids = new Map<number, { serviceId: string; environmentId: string }>();

  before(async () => {
    api = await startApi(cleanup, { runtimesDir: RUNTIMES_CACHE_DIR });
    for (const major of MAJORS) {
      const job = await withDeadline(`deploy on node${major}`, api.rt.deployDirectory(FIXTURE, {
        service: 'versions', environment: `node${major}`, secret: SECRET, runtime: `node${major}`,
      }), RUNTIME_INSTALL_TIMEOUT_MS);
      progress.set(major, job.progress);
      const { body } = await api.call('GET', '/v4/services');
      const svc = (body as { id: string; name: string }[]).find((s) => s.name === 'versions')!;
      const envs = (await api.call('GET', `/v4/services/${svc.id}/environments`)).body as { id: string; name: string }[];
      ids.set(major, { serviceId: svc.id, environmentId: envs.find((e) => e.name === `node${major}`)!.id });
    }
  });

  const call = async (major: number, fn: string, body: unknown = {}) => {
    const { serviceId, environmentId } = ids.get(major)!;
    const res = await callFunction(`${api.rt.url}/flex/${serviceId}/${environmentId}`, fn, body, { secret: SECRET, timeoutMs: ANSWER_MS });
    assert.equal(res.status, 200, `${fn} on node${major}: ${res.text.slice(0, 300)}`);
    return res.answer;
  };

  const listed = async () => (await api.call('GET', '/v4/runtimes')).body as {
    defaultRuntime: string; runtimes: { major?: number; version?: string; source: string; path: string; usedBy: { environment: string; runtime: string }[] }[];
  };

  test('each environment runs on the major it chose, GET /v4/runtimes and its status name that release, and its deploy says which Node runs', async () => {
    const { runtimes } = await listed();
    for (const major of MAJORS) {
      const answer = await call(major, 'node');
      assert.equal(answer.major, major, `node${major} answers process.version ${answer.version}`);
      const row = runtimes.find((r) => r.usedBy.some((u) => u.environment === `node${major}`));
      assert.ok(row, `GET /v4/runtimes names the Node node${major} runs on: ${JSON.stringify(runtimes)}`);
      assert.equal(`v${row.version}`, answer.version);
      assert.equal(row.source, major === Number(process.versions.node.split('.')[0]) ? 'host' : 'registry');
      assert.match(progress.get(major)!, new RegExp(`Runtime flex-runtime-node${major} runs on Node ${answer.version.slice(1).replace(/\./g, '\\.')} `));
      const status = (await api.call('GET', `/v4/services/${ids.get(major)!.serviceId}/environments/${ids.get(major)!.environmentId}/status`)).body;
      assert.equal(status.runtime, `flex-runtime-node${major}`);
      assert.equal(status.node.version, answer.version, 'the status names the Node its replicas run on');
    }
    // The status page shows each environment's Node.
    const page = await withDeadline('the status page', fetch(`${api.rt.url}/ui/fragments/overview`, { headers: { cookie: `flexd_session=${api.token}` } }), ANSWER_MS);
    const html = await page.text();
    assert.equal(page.status, 200, html.slice(0, 300));
    for (const major of MAJORS) assert.match(html, new RegExp(`data-label="Node" class="node">v${major}\\.`), `the overview shows node${major}'s Node`);
    // Installed releases are shared, readable and runnable by every account, writable by none but flexd.
    for (const row of runtimes.filter((r) => r.source === 'registry')) {
      const root = dirname(dirname(row.path));
      for (const path of [root, dirname(row.path), row.path, join(root, 'include', 'node'), join(root, 'include', 'node', 'node_version.h')]) {
        const st = statSync(path);
        assert.equal(st.uid, process.getuid!(), `${path} is flexd's`);
        assert.equal(st.mode & 0o022, 0, `${path} is not writable by others`);
        assert.equal(st.mode & 0o004, 0o004, `${path} is readable by others`);
      }
    }
    // The host's major was not downloaded: its row is flexd's own executable.
    assert.ok(runtimes.some((r) => r.source === 'host' && r.path === process.execPath));
  });

  test('flexd runtimes lists each Node, its exact version and who runs on it; flexd status shows the environment\'s Node', async () => {
    const cli = await flexdCli(await tempDir(cleanup, 'flexd-runtimes-home-'));
    await cli.ok(['login', '--host', api.rt.url, '--email', ADMIN.email], { env: { FLEXD_PASSWORD: ADMIN.password } });
    const table = await cli.ok(['runtimes']);
    for (const major of MAJORS) {
      const { version } = await call(major, 'node');
      assert.match(table, new RegExp(`^${major}\\s+${version.slice(1).replace(/\./g, '\\.')}\\s+(host|registry)\\s+.*versions/node${major}`, 'm'), table);
      const status = await cli.json(['status', '--service', 'versions', '--env', `node${major}`]);
      assert.equal(status.node.version, version);
      assert.match(await cli.ok(['status', '--service', 'versions', '--env', `node${major}`]), new RegExp(`node\\s+${version.replace(/\./g, '\\.')}`));
    }
  });

  test('the permission model refuses a read outside the project on every major, in the spelling that major takes', async () => {
    for (const major of MAJORS) {
      assert.equal((await call(major, 'node')).ownFile, true, `node${major} reads its own project`);
      assert.deepEqual(await call(major, 'outside', { path: '/etc/passwd' }), { read: 'ERR_ACCESS_DENIED' }, `node${major}: /etc/passwd`);
      assert.deepEqual(await call(major, 'outside', { path: join(RUNTIMES_CACHE_DIR, '..') }), { read: 'ERR_ACCESS_DENIED' }, `node${major}: flexd's files`);
    }
  });

  test('every major keeps the working directory (its project folder, writable) and stack traces that name the project file and line', async () => {
    for (const major of MAJORS) {
      const { cwd, dirname: projectDir, stack, wrote } = await call(major, 'where');
      assert.equal(wrote, 'allowed', `node${major} writes in its working directory`);
      assert.equal(cwd, projectDir, `node${major} runs in its project folder, as under node .`);
      assert.match(stack.split('\n')[1], /index\.js:\d+:\d+\)?$/, `node${major}: ${stack}`);
    }
  });

  test('differential: each major answers as `node .` of the same project run by the same binary', async (t) => {
    const { runtimes } = await listed();
    for (const major of MAJORS) {
      const row = runtimes.find((r) => r.usedBy.some((u) => u.environment === `node${major}`))!;
      const svc = await startStandalone({ projectDir: FIXTURE, secret: SECRET, nodePath: row.path }, t);
      const standalone = (await callFunction(svc.url, 'node', {}, { secret: SECRET, timeoutMs: ANSWER_MS })).answer;
      assert.deepEqual(await call(major, 'node'), standalone, `node${major}: flexd and node . on ${row.path}`);
      const where = (await callFunction(svc.url, 'where', {}, { secret: SECRET, timeoutMs: ANSWER_MS })).answer as { stack: string };
      const frame = (stack: string) => /([^/]+:\d+:\d+)\)?$/.exec(stack.split('\n')[1]!)?.[1];
      assert.equal(frame((await call(major, 'where')).stack), frame(where.stack), `node${major}: the throwing frame`);
      await svc.stop();
    }
  });
});
