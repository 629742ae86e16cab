import type { Command } from '../command.ts';
import { dev as runDev, DEV_HELP } from '../dev.ts';

/** `flexd dev`: serves a project folder in place (src/cli/dev.ts); its flags are its own. */
export const dev: Command = {
  name: 'dev',
  summary: 'serve a project folder in place and redeploy it on every save (flexd dev --help)',
  usage: DEV_HELP,
  options: {},
  ownArgs: true,
  async run({ argv }) {
    await runDev(argv);
  },
};
