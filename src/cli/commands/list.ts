import type { Command } from '../command.ts';
import { connect } from '../session.ts';
import { listServices } from '../target.ts';

export const list: Command = {
  name: 'list',
  summary: 'list the Flex services',
  usage: `Usage: flexd list

Lists the Flex services of every organization you can see.`,
  options: {},
  async run({ args, out }) {
    const api = await connect(args.globals);
    const services = await listServices(api);
    const raw = services.map(({ organization, ...service }) => service);
    out.result(raw, () => out.list(services.map((s) => ({ id: s.id, name: s.name, organization: s.organization.name })), ['id', 'name', 'organization']));
  },
};
