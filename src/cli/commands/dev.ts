import type { Command } from '../command.ts';
import { DEV_HELP } from '../dev-help.ts';

/** `flexd dev`: serves a project folder in place (src/cli/dev.ts); its flags are its own. */
export const dev: Command = {
  name: 'dev',
  summary: 'serve a project folder in place and redeploy it on every save (flexd dev --help)',
  usage: DEV_HELP,
  options: {},
  ownArgs: true,
  async run({ argv }) {
    // Loaded here: a runtime and a folder watcher, which no other command needs.
    const { dev: runDev } = await import('../dev.ts');
    await runDev(argv);
  },
};
