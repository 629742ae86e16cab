/**
 * F1's victim: a flexd runtime in a process of its own that restores what `dataDir` holds,
 * deploys one project folder, and reports on stdout, one line each, so the test can kill it
 * with SIGKILL at a chosen point:
 *
 *   ready <url>                   restored and listening
 *   deploying <version>           deployDirectory called
 *   progress <STATUS> <text>      a job progress update, printed once it is in the database
 *   completed <version>           deployDirectory resolved: the deploy is acknowledged
 *   failed <message>              deployDirectory rejected
 *
 * Usage: node deploying-runtime.mjs <flexd's index.js> '<runtime options JSON>' <dataDir> <projectDir> <service> <environment> <version>
 * (not a test file: the runner only picks up *.test.ts). flexd is the compiled package
 * (helpers/packed.ts), so each victim starts without tsx compiling the sources: the same code.
 */
const [flexd, options, dataDir, projectDir, service, environment, version] = process.argv.slice(2);
if (!flexd || !options || !dataDir || !projectDir || !service || !environment || !version) {
  console.error('usage: deploying-runtime.mjs <flexd index.js> <options JSON> <dataDir> <projectDir> <service> <environment> <version>');
  process.exit(2);
}
const { createRuntime } = await import(flexd);
const say = (line) => process.stdout.write(`${line}\n`);

const rt = await createRuntime({ ...JSON.parse(options), dataDir, port: 0 });
// Report each progress update after the store has written it: what the test sees happened.
const jobs = rt.context.store.jobs;
const update = jobs.update.bind(jobs);
jobs.update = async (fence, status, progress) => {
  const written = await update(fence, status, progress);
  say(`progress ${status} ${progress.split('\n').at(-1)}`);
  return written;
};
// The last update (COMPLETED or ERROR) is recorded by `finish`, with the upload's removal.
const finish = jobs.finish.bind(jobs);
jobs.finish = async (fence, status, progress) => {
  const written = await finish(fence, status, progress);
  say(`progress ${status} ${progress.split('\n').at(-1)}`);
  return written;
};
say(`ready ${rt.url}`);
say(`deploying ${version}`);
rt.deployDirectory(projectDir, { service, environment }).then(
  () => say(`completed ${version}`),
  (err) => say(`failed ${err.message.replace(/\n/g, ' ')}`),
);
// Then it waits to be killed; the test's SIGKILL is the only way out.
