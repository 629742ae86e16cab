import { resolve } from 'node:path';
import { applyVarsChange, runtimeOption, VARS_OPTIONS, varsChange } from '../args.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { waitForJob } from '../jobs.ts';
import { connect } from '../session.ts';
import { resolveTarget, targetName } from '../target.ts';

export const deploy: Command = {
  name: 'deploy',
  summary: 'deploy a project folder as a new version',
  usage: `Usage: flexd deploy [DIR] --service S [--env E] [--set-vars K=V,… | --replace-vars K=V,…] [--runtime R] [--no-wait]

Checks DIR's package.json (default: the current folder) — kinvey-flex-sdk in "dependencies", a
version greater than the deployed one — uploads the project as a gzip'ed tar without
node_modules, .git and output.log (the server installs the dependencies), and waits for the
deploy job, printing its progress.

${TARGET_HELP}
  --set-vars VARS        add or change environment variables with this version: K=V,… or JSON
  --replace-vars VARS    replace all environment variables with these
  --runtime NAME         node20|node22|node24 (Kinvey's node6…node12 map to a supported major), or a runtime configured at flexd serve
  --no-wait              return once the upload is stored`,
  options: { ...TARGET_OPTIONS, ...VARS_OPTIONS, runtime: { type: 'string' }, 'no-wait': { type: 'boolean' } },
  async run({ args, out }) {
    if (args.positionals.length > 1) throw new CliError(`unexpected argument "${args.positionals[1]}"`);
    const dir = resolve(args.positionals[0] ?? '.');
    const change = varsChange(args.values);
    const runtime = runtimeOption(args.values.runtime);
    // Loaded here: semver and tar, which only a deploy needs.
    const { checkVersionIncreases, readProject } = await import('../../deploy/project.ts');
    const { buildArchive } = await import('../archive.ts');
    const project = await readProject(dir);

    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const { service, environment } = target;
    // kinvey-cli's check before the upload: the version must be greater than the one deployed
    const status = await api.status(service.id, environment.id);
    checkVersionIncreases(project.version, status.deployment?.version || status.version || null);

    const archive = await buildArchive(dir);
    const params: Record<string, unknown> = { serviceId: service.id, serviceEnvironmentId: environment.id, version: project.version };
    if (change) params.environmentVariables = applyVarsChange(environment.environmentVariables, change);
    if (runtime) params.runtime = runtime;
    out.say(`Uploading ${dir} (${archive.length} bytes) as version ${project.version} of ${targetName(target)}`);
    const { job } = await api.deploy(params, archive);
    if (args.values['no-wait']) {
      out.result({ job }, () => out.say(`Deploy initiated (job ${job}). You can use 'flexd status' to track the deploy progress.`));
      return;
    }
    const done = await waitForJob(api, job, (line) => out.say(`  ${line}`));
    out.result(done, () => out.say(`Deployed version ${project.version} of ${targetName(target)}`));
  },
};
