import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { waitForJob } from '../jobs.ts';
import { connect } from '../session.ts';
import { resolveTarget, targetName } from '../target.ts';

export const recycle: Command = {
  name: 'recycle',
  summary: 'restart every replica of a service environment',
  usage: `Usage: flexd recycle --service S [--env E] [--no-wait]

Restarts every replica of the environment as one swap: new replicas start, then take the
traffic, then the old ones stop. Waits for the job unless --no-wait.

${TARGET_HELP}
  --no-wait              return once the job is queued`,
  options: { ...TARGET_OPTIONS, 'no-wait': { type: 'boolean' } },
  async run({ args, out }) {
    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const { job } = await api.createJob({ type: 'recycleService', params: { serviceId: target.service.id, serviceEnvironmentId: target.environment.id } });
    if (args.values['no-wait']) {
      out.result({ job }, () => out.say(`Recycle initiated (job ${job}). You can use 'flexd status' to track the recycle progress.`));
      return;
    }
    out.say(`Recycling ${targetName(target)} (job ${job})`);
    const done = await waitForJob(api, job, (line) => out.say(`  ${line}`));
    out.result(done, () => out.say(`Recycled ${targetName(target)}`));
  },
};
