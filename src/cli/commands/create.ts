import { randomBytes } from 'node:crypto';
import { runtimeOption, str, varsChange } from '../args.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { connect } from '../session.ts';

/** A generated shared secret: 32 random bytes as hex (kinvey-cli generates one client-side too). */
const SECRET_BYTES = 32;

export const create: Command = {
  name: 'create',
  summary: 'create a Flex service with its first environment',
  usage: `Usage: flexd create <name> [--env NAME] [--secret SECRET] [--set-vars K=V,…] [--runtime node22] [--org NAME|ID]

Creates the service in the organization (default: the first one) and its first service
environment, and prints the environment's shared secret (the X-Auth-Key of its data plane).

  -e, --env NAME         the environment's name (default Development)
  --secret SECRET        the shared secret (default: generated)
  --set-vars VARS        environment variables: K=V,K2=V2 or a JSON object
  --runtime NAME         node20|node22|node24 (Kinvey's node6…node12 map to a supported major), or a runtime configured at flexd serve
  --org NAME|ID          the organization (default: the first one)`,
  options: {
    env: { type: 'string', short: 'e' },
    secret: { type: 'string' },
    'set-vars': { type: 'string' },
    runtime: { type: 'string' },
    org: { type: 'string' },
  },
  async run({ args, out }) {
    const [name, ...extra] = args.positionals;
    if (!name) throw new CliError('a service name is required: flexd create <name>');
    if (extra.length > 0) throw new CliError(`unexpected argument "${extra[0]}"`);
    const vars = varsChange(args.values);
    const runtime = runtimeOption(args.values.runtime);
    const envName = str(args.values.env) ?? 'Development';
    const secret = str(args.values.secret) ?? randomBytes(SECRET_BYTES).toString('hex');

    const api = await connect(args.globals);
    const orgs = await api.organizations();
    const orgWanted = str(args.values.org);
    const org = orgWanted ? orgs.find((o) => o.id === orgWanted) ?? orgs.find((o) => o.name === orgWanted) : orgs[0];
    if (!org) throw new CliError(orgWanted ? `no organization "${orgWanted}"` : 'the server has no organization', 'OrganizationNotFound');

    const service = await api.createService(name, org.id);
    let environment;
    try {
      environment = await api.createEnvironment(service.id, {
        name: envName, secret,
        ...(vars ? { environmentVariables: vars.vars } : {}),
        ...(runtime ? { runtime } : {}),
      });
    } catch (err) {
      // a service without its environment would block a corrected retry with the same name
      await api.deleteService(service.id).catch(() => {});
      throw err;
    }
    const result = { id: service.id, name: service.name, secret: environment.secret ?? secret, svcEnvId: environment.id, svcEnvName: environment.name };
    out.result(result, () => out.say(`Created service: ${service.id}. Secret: ${result.secret}`));
  },
};
