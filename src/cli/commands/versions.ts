import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { connect } from '../session.ts';
import { resolveTarget } from '../target.ts';

export const versions: Command = {
  name: 'versions',
  summary: 'list the versions stored for a service environment, and which one serves',
  usage: `Usage: flexd versions --service S [--env E]

Every version deployed to the environment that flexd keeps (what flexd rollback --to can
choose from), oldest first: when it was deployed, its size, its kinvey-flex-sdk, and which one
serves now (active).

${TARGET_HELP}`,
  options: { ...TARGET_OPTIONS },
  async run({ args, out }) {
    const api = await connect(args.globals);
    const { service, environment } = await resolveTarget(api, args.values);
    const list = await api.versions(service.id, environment.id);
    out.result(list, () => out.list(list.map((v) => ({
      version: v.version, active: v.active ? 'yes' : '', deployedAt: v.createdAt, size: v.size, sdk: v.sdkVersion,
    })), ['version', 'active', 'deployedAt', 'size', 'sdk']));
  },
};
