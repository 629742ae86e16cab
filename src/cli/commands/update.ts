import { applyVarsChange, runtimeOption, VARS_OPTIONS, varsChange } from '../args.ts';
import type { ServiceEnvironment } from '../client.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { waitForJob, waitWhileUpdating } from '../jobs.ts';
import { connect } from '../session.ts';
import { resolveTarget, targetName } from '../target.ts';

export const update: Command = {
  name: 'update',
  summary: "change a service environment's variables or runtime",
  usage: `Usage: flexd update --service S [--env E] (--set-vars K=V,… | --replace-vars K=V,… | --runtime R) [--no-wait]

Changes the environment's variables (merged with --set-vars, replaced whole with --replace-vars)
or runtime. The replicas restart with the change as one swap; flexd update waits for it.

${TARGET_HELP}
  --set-vars VARS        add or change these variables: K=V,K2=V2 or a JSON object
  --replace-vars VARS    replace all variables with these
  --runtime NAME         node20|node22|node24 (Kinvey's node6…node12 map to a supported major), or a runtime configured at flexd serve
  --no-wait              return once the change is stored`,
  options: { ...TARGET_OPTIONS, ...VARS_OPTIONS, runtime: { type: 'string' }, 'no-wait': { type: 'boolean' } },
  async run({ args, out }) {
    const change = varsChange(args.values);
    const runtime = runtimeOption(args.values.runtime);
    if (!change && !runtime) throw new CliError('nothing to update: give --set-vars, --replace-vars or --runtime');
    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const { service, environment } = target;

    // kinvey-cli's body: the environment as GET returned it, minus its id (and a null description)
    const { id: _id, ...body } = environment;
    if (body.description === null) delete body.description;
    if (change) body.environmentVariables = applyVarsChange(environment.environmentVariables, change);
    if (runtime) body.runtime = runtime;
    else delete body.runtime;
    const updated = await api.updateEnvironment(service.id, environment.id, body as Omit<ServiceEnvironment, 'id'>);

    // flexd names the restart job it started (kinvey had none); without one, watch the status settle
    const job = api.lastHeaders?.get('x-flexd-job');
    if (!args.values['no-wait'] && job) {
      out.say(`Restarting ${targetName(target)} with the change (job ${job})`);
      await waitForJob(api, job, (line) => out.say(`  ${line}`));
    } else if (!args.values['no-wait']) {
      const settled = await waitWhileUpdating(api, service.id, environment.id);
      if (settled.status === 'ERROR') {
        throw new CliError(`${targetName(target)} is in ERROR after the update${typeof settled.reason === 'string' ? `: ${settled.reason}` : ''}`);
      }
    }
    out.result({ id: environment.id, ...(updated ? { environment: updated } : {}) }, () => out.say(`Updated service environment: ${environment.id}`));
  },
};
