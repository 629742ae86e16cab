import type { Command } from '../command.ts';
import { connect } from '../session.ts';

export const runtimes: Command = {
  name: 'runtimes',
  summary: 'list the Node versions flexd has and which environments run on each',
  usage: `Usage: flexd runtimes

The Nodes environments can run on: the one flexd itself runs on (host), the releases flexd
installed from the npm registry (registry), and executables configured at flexd serve
--runtime NAME=PATH (configured); for each, its exact version and the environments whose
replicas run on it now. A major not listed is installed by the first deploy that names it
(flexd deploy --runtime node22). See docs/runtimes.md.`,
  options: {},
  async run({ args, out }) {
    const api = await connect(args.globals);
    const list = await api.runtimes();
    out.result(list, () => out.list(list.runtimes.map((r) => ({
      node: r.name ?? `${r.major}`, version: r.version ?? '', source: r.source,
      usedBy: r.usedBy.map((u) => `${u.service}/${u.environment}`).join(', '),
    })), ['node', 'version', 'source', 'usedBy']));
  },
};
