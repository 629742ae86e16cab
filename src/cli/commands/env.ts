import { randomBytes } from 'node:crypto';
import { runtimeOption, str, varsChange } from '../args.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { canPrompt, confirm } from '../prompt.ts';
import { connect } from '../session.ts';
import { resolveEnvironment, resolveService } from '../target.ts';

/** A generated shared secret: 32 random bytes as hex, as flexd create makes one. */
const SECRET_BYTES = 32;

export const env: Command = {
  name: 'env',
  summary: 'add or delete a service environment (env create, env delete)',
  usage: `Usage: flexd env create --service S --name NAME [--secret SECRET] [--set-vars K=V,…] [--runtime R]
       flexd env delete --service S --name NAME [--yes]

create adds an environment to the service (Production beside Development, say) and prints its
shared secret; deploy to it with flexd deploy --env NAME. delete removes one with its versions
and logs; its replicas stop. It asks to confirm on a terminal; elsewhere --yes is required.

  -s, --service NAME|ID  the service
  --name NAME            the environment (for delete also its id)
  --secret SECRET        create: the shared secret, the X-Auth-Key of its data plane (default: generated)
  --set-vars VARS        create: environment variables, K=V,K2=V2 or a JSON object
  --runtime NAME         create: node20|node22|node24 (Kinvey's node6…node12 map to a supported major), or a runtime configured at flexd serve
  -y, --yes              delete: do not ask`,
  options: {
    service: { type: 'string', short: 's' }, name: { type: 'string' }, secret: { type: 'string' },
    'set-vars': { type: 'string' }, runtime: { type: 'string' }, yes: { type: 'boolean', short: 'y' },
  },
  async run({ args, out }) {
    const [action, ...rest] = args.positionals;
    if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}"`);
    const name = str(args.values.name);
    if (action !== 'create' && action !== 'delete') {
      throw new CliError(action ? `unknown action "${action}": use create or delete` : 'flexd env needs an action: create or delete');
    }
    if (!name) throw new CliError('--name is required (the environment\'s name)');
    const api = await connect(args.globals);
    const service = await resolveService(api, str(args.values.service));

    if (action === 'create') {
      const vars = varsChange(args.values);
      const runtime = runtimeOption(args.values.runtime);
      const made = await api.createEnvironment(service.id, {
        name, secret: str(args.values.secret) ?? randomBytes(SECRET_BYTES).toString('hex'),
        ...(vars ? { environmentVariables: vars.vars } : {}), ...(runtime ? { runtime } : {}),
      });
      const result = { id: made.id, name: made.name, secret: made.secret, serviceId: service.id, serviceName: service.name };
      out.result(result, () => out.say(`Created service environment ${service.name}/${made.name}: ${made.id}. Secret: ${made.secret}`));
      return;
    }

    const environment = await resolveEnvironment(api, service, name);
    if (!args.values.yes) {
      if (!canPrompt()) throw new CliError(`refusing to delete ${service.name}/${environment.name} without --yes (there is no terminal to confirm on)`);
      if (!await confirm(`Delete environment ${service.name}/${environment.name} with its versions and logs?`)) throw new CliError('not deleted');
    }
    await api.deleteEnvironment(service.id, environment.id);
    out.result({ id: environment.id, name: environment.name }, () => out.say(`Deleted service environment ${service.name}/${environment.name}: ${environment.id}`));
  },
};
