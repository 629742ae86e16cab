/**
 * F1's victim: a flexd runtime in a process of its own that restores what `dataDir` holds,
 * deploys one project folder, and reports on stdout, one line each, so the test can kill it
 * with SIGKILL at a chosen point:
 *
 *   ready <url>                   restored and listening
 *   deploying <version>           deployDirectory called
 *   progress <STATUS> <text>      a line of the deploy's job, once the database holds it
 *   completed <version>           deployDirectory resolved: the deploy is acknowledged
 *   failed <message>              deployDirectory rejected
 *
 * The progress lines are read from the database, not from flexd: a read-only connection of its
 * own (the packed package's better-sqlite3) looks at the deploy's job row every few milliseconds
 * and prints each line the row gained, with the row's status then. So what the test sees is what
 * a restarted flexd will find, and nothing of flexd's is replaced or wrapped.
 *
 * Usage: node deploying-runtime.mjs <flexd's index.js> '<runtime options JSON>' <dataDir> <projectDir> <service> <environment> <version>
 * (not a test file: the runner only picks up *.test.ts). flexd is the compiled package
 * (helpers/packed.ts), so each victim starts without tsx compiling the sources: the same code.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [flexd, options, dataDir, projectDir, service, environment, version] = process.argv.slice(2);
if (!flexd || !options || !dataDir || !projectDir || !service || !environment || !version) {
  console.error('usage: deploying-runtime.mjs <flexd index.js> <options JSON> <dataDir> <projectDir> <service> <environment> <version>');
  process.exit(2);
}
const { createRuntime } = await import(flexd);
const Database = createRequire(flexd)('better-sqlite3');
const say = (line) => process.stdout.write(`${line}\n`);
/** How often the job row is read: a step's line is printed at most this late. */
const WATCH_MS = 2;

const rt = await createRuntime({ ...JSON.parse(options), dataDir, port: 0 });
const db = new Database(join(dataDir, 'flexd.db'), { readonly: true, fileMustExist: true });
const { newest } = db.prepare('SELECT max(rowid) AS newest FROM jobs').get();
const deployJob = db.prepare("SELECT status, progress FROM jobs WHERE rowid > ? AND type = 'deployService' ORDER BY rowid LIMIT 1");
let printed = [];
const watch = () => {
  const row = deployJob.get(newest ?? 0);
  if (!row) return;
  // The row keeps the last 30 lines: what follows the last line printed is new.
  const lines = row.progress.split('\n');
  const last = printed.at(-1);
  const from = last === undefined ? 0 : lines.lastIndexOf(last) + 1;
  for (const line of lines.slice(from)) say(`progress ${row.status} ${line}`);
  if (from < lines.length) printed = lines;
};
setInterval(watch, WATCH_MS);
say(`ready ${rt.url}`);
say(`deploying ${version}`);
rt.deployDirectory(projectDir, { service, environment }).then(
  () => { watch(); say(`completed ${version}`); },
  (err) => { watch(); say(`failed ${err.message.replace(/\n/g, ' ')}`); },
);
// Then it waits to be killed; the test's SIGKILL is the only way out.
