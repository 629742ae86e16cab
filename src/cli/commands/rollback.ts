import { str } from '../args.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { waitForJob } from '../jobs.ts';
import { connect } from '../session.ts';
import { resolveTarget, targetName } from '../target.ts';

export const rollback: Command = {
  name: 'rollback',
  summary: 'serve an earlier deployed version again',
  usage: `Usage: flexd rollback --service S [--env E] --to VERSION [--no-wait]

Switches the environment back to a version deployed before (flexd keeps every version), as one
swap. Waits for the job unless --no-wait.

${TARGET_HELP}
  --to VERSION           the version to serve, e.g. 1.0.0
  --no-wait              return once the job is queued`,
  options: { ...TARGET_OPTIONS, to: { type: 'string' }, 'no-wait': { type: 'boolean' } },
  async run({ args, out }) {
    const wanted = str(args.values.to);
    if (!wanted) throw new CliError('--to VERSION is required (flexd status shows the current version)');
    const { default: semver } = await import('semver');
    const version = semver.valid(wanted);
    if (!version) throw new CliError(`--to "${wanted}" is not a semver version such as 1.0.0`);
    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const { job } = await api.createJob({
      type: 'rollbackService',
      params: { serviceId: target.service.id, serviceEnvironmentId: target.environment.id, version },
    });
    if (args.values['no-wait']) {
      out.result({ job }, () => out.say(`Rollback initiated (job ${job}). You can use 'flexd status' to track its progress.`));
      return;
    }
    out.say(`Rolling ${targetName(target)} back to version ${version} (job ${job})`);
    const done = await waitForJob(api, job, (line) => out.say(`  ${line}`));
    out.result(done, () => out.say(`Rolled back ${targetName(target)} to version ${version}`));
  },
};
