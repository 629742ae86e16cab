import type { Command } from '../command.ts';
import { serve as runServe, SERVE_HELP } from '../serve.ts';

/** `flexd serve`: runs flexd itself (src/cli/serve.ts); its flags are its own, not the API commands' globals. */
export const serve: Command = {
  name: 'serve',
  summary: 'run flexd (flexd serve --help lists its flags)',
  usage: SERVE_HELP,
  options: {},
  ownArgs: true,
  async run({ argv }) {
    await runServe(argv);
  },
};
