import type { Command } from '../command.ts';
import { SERVE_HELP } from '../serve-help.ts';

/** `flexd serve`: runs flexd itself (src/cli/serve.ts); its flags are its own, not the API commands' globals. */
export const serve: Command = {
  name: 'serve',
  summary: 'run flexd (flexd serve --help lists its flags)',
  usage: SERVE_HELP,
  options: {},
  ownArgs: true,
  async run({ argv }) {
    // Loaded here: the runtime's modules are what every other command must not pay for.
    const { serve: runServe } = await import('../serve.ts');
    await runServe(argv);
  },
};
