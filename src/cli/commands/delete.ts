import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { canPrompt, confirm } from '../prompt.ts';
import { connect } from '../session.ts';
import { resolveService } from '../target.ts';

export const del: Command = {
  name: 'delete',
  summary: 'delete a Flex service, its environments, versions and logs',
  usage: `Usage: flexd delete --service S [--yes]

Deletes the service with every environment, deployed version and log line; its replicas stop
and its data plane answers 404. Asks to confirm on a terminal; elsewhere --yes is required.

  -s, --service NAME|ID  the service
  -y, --yes              do not ask`,
  options: { service: { type: 'string', short: 's' }, yes: { type: 'boolean', short: 'y' } },
  async run({ args, out }) {
    const api = await connect(args.globals);
    const service = await resolveService(api, args.values.service as string | undefined);
    if (!args.values.yes) {
      if (!canPrompt()) throw new CliError(`refusing to delete ${service.name} without --yes (there is no terminal to confirm on)`);
      if (!await confirm(`Delete service ${service.name} (${service.id}) with all its environments, versions and logs?`)) {
        throw new CliError('not deleted');
      }
    }
    await api.deleteService(service.id);
    out.result({ id: service.id }, () => out.say(`Deleted service: ${service.id}`));
  },
};
