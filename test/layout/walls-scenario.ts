/**
 * The attack of test/layout/version-walls.test.ts, shared by its in-process run (as root) and
 * the one run as an ordinary account: a replica of one version tries to change, by their real
 * paths, the dependency tree written once for the runtime (which the other environment's version
 * uses too), its environment's copy of it, another environment's version folder and copy; and it
 * changes its own view of the tree, which neither a rollback nor the other environment may see.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { createRuntime } from '../../src/runtime.ts';
import { withDeadline } from '../helpers/wait.ts';

type Runtime = Awaited<ReturnType<typeof createRuntime>>;
/** A rollback (a replica's start) on a loaded machine; the deadline catches a hang. */
const JOB_MS = 120_000;
/** A deploy of the fixture (its dependencies resolve from the repo, or one npm install): a hang-catcher. */
const DEPLOY_MS = 240_000;

export interface WallsReport {
  /** path → what each of write, chmod and unlink came to */
  tampered: Record<string, Record<string, string>>;
  /** the files attacked, unchanged on disk afterwards */
  unchanged: Record<string, boolean>;
  /** what the rolled-back version reads at ./node_modules/kinvey-flex-sdk/package.json */
  rollbackSees: string;
  /** what the attacking version read there after writing it */
  attackerSees: string;
  /** what the other environment's replica, on the same tree, reads there afterwards */
  victimSees: string;
  /** how many trees the run dir holds for the two environments' one tree key (the runtime's, then each environment's own copy) */
  sharedTrees: number;
}

async function call(rt: Runtime, service: string, name: string, body: unknown = {}): Promise<any> {
  const res = await fetch(`${rt.url}/flex/${service}/Development/_flexFunctions/${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000),
  });
  const json = await res.json() as { response?: { body?: unknown } };
  if (res.status !== 200) throw new Error(`${name} on ${service}: ${res.status} ${JSON.stringify(json)}`);
  return json.response?.body;
}

/** Waits for a job to end (the deployer's own wait, under a deadline); throws unless it completed. */
async function finished(rt: Runtime, jobId: string): Promise<void> {
  const job = await withDeadline(`job ${jobId} to finish`, rt.context.deployer.jobs.wait(jobId), JOB_MS);
  if (job.status !== 'COMPLETED') throw new Error(`job ${jobId}: ${job.progress}`);
}

export async function attackOtherVersions(rt: Runtime, dataDir: string, fixture: string): Promise<WallsReport> {
  const { services } = rt.context.store;
  for (const [service, version] of [['victim', '1.0.0'], ['cwd', '1.0.0'], ['cwd', '1.0.1']] as const) {
    await withDeadline(`the deploy of ${service} ${version}`, rt.deployDirectory(fixture, { service, environment: 'Development', version }), DEPLOY_MS);
  }
  const runDir = readFileSync(join(dataDir, 'run-dir'), 'utf8').trim();
  const envOf = async (service: string) => (await services.findEnvironment((await services.findService(service))!.id, 'Development'))!;
  const own = join(runDir, (await envOf('cwd')).id);
  const victim = join(runDir, (await envOf('victim')).id);
  // The runtime's tree, which both environments' versions start from (in overlay mode as root each
  // environment has its own copy of it as well, which its versions share).
  const treeFiles = (dir: string) => readdirSync(join(dir, 'trees')).map((name) => join(dir, 'trees', name, 'node_modules', 'kinvey-flex-sdk', 'package.json'));
  const shared = treeFiles(runDir);
  const targets = [
    ...shared, // the tree 1.0.0 shares with 1.0.1, and with the other environment
    ...treeFiles(own), // the environment's own copy, which 1.0.0 shares with 1.0.1
    join(victim, readdirSync(victim).find((n) => n.startsWith('v-'))!, 'index.js'), // another environment's version
    ...treeFiles(victim),
  ];
  const before = Object.fromEntries(targets.map((p) => [p, readFileSync(p, 'utf8')]));
  const tampered: WallsReport['tampered'] = {};
  for (const path of targets) tampered[path] = await call(rt, 'cwd', 'tamper', { path });
  await call(rt, 'cwd', 'write', { name: './node_modules/kinvey-flex-sdk/package.json', content: 'changed by 1.0.1' }); // through its own folder
  const attackerSees = (await call(rt, 'cwd', 'peek', { name: './node_modules/kinvey-flex-sdk/package.json' })).content as string;
  const victimSees = (await call(rt, 'victim', 'peek', { name: './node_modules/kinvey-flex-sdk/package.json' })).content as string;

  const env = await envOf('cwd');
  await finished(rt, (await rt.context.deployer.rollback(env.serviceId, env.id, '1.0.0', null)).id);
  const rollbackSees = (await call(rt, 'cwd', 'peek', { name: './node_modules/kinvey-flex-sdk/package.json' })).content as string;
  const unchanged = Object.fromEntries(targets.map((p) => {
    try {
      return [p, readFileSync(p, 'utf8') === before[p]];
    } catch {
      return [p, false];
    }
  }));
  return { tampered, unchanged, rollbackSees, attackerSees, victimSees, sharedTrees: shared.length };
}
