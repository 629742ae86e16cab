import type { Command } from '../command.ts';
import { connect } from '../session.ts';

export const nodes: Command = {
  name: 'nodes',
  summary: 'list the flexd nodes that share this flexd\'s database, live or not',
  usage: `Usage: flexd nodes

The nodes of the database (one on SQLite: the one you are logged in to): each one's name, whether
it is live (its heartbeat is recent), when it was last seen and started, its flexd version, and
how many environments and replicas it runs. See docs/scale-out.md.`,
  options: {},
  async run({ args, out }) {
    const api = await connect(args.globals);
    const list = await api.nodes();
    out.result(list, () => out.list(list.map((n) => ({
      name: n.name, live: n.live ? 'yes' : 'no', lastSeen: n.lastSeen, startedAt: n.startedAt, version: n.flexdVersion,
      environments: String(n.environments), replicas: String(n.replicas),
    })), ['name', 'live', 'lastSeen', 'startedAt', 'version', 'environments', 'replicas']));
  },
};
