import type { OptionSpec, ParsedArgs } from './args.ts';
import type { Output } from './output.ts';

/** What a command gets when it runs: its parsed arguments and where to print. */
export interface CommandContext {
  args: ParsedArgs;
  /** the arguments after the command's name, unparsed: what an `ownArgs` command reads */
  argv: string[];
  out: Output;
  env: NodeJS.ProcessEnv;
}

/** One `flexd <name>` command; each lives in its own file under commands/. */
export interface Command {
  name: string;
  /** one line for `flexd help` */
  summary: string;
  /** `flexd <name> --help`: the synopsis line(s) and the command's own options */
  usage: string;
  options: OptionSpec;
  /**
   * The command reads its own arguments from `ctx.argv` (`serve`, which runs flexd rather than
   * talking to one): no global options, and `usage` is its whole help.
   */
  ownArgs?: boolean;
  run(ctx: CommandContext): Promise<void>;
}

export const GLOBAL_HELP = `Global options (before or after the command: flexd --output json status -s orders):
  --output json          print {"result": …} for scripts instead of tables
  --profile NAME         use this saved login (FLEXD_PROFILE; default: the active one;
                         flexd profile list shows them, flexd profile use NAME switches)
  --host URL             talk to this flexd instead of the profile's
  -h, --help             this help`;

/** Options naming the service environment a command acts on. */
export const TARGET_OPTIONS = {
  service: { type: 'string', short: 's' },
  env: { type: 'string', short: 'e' },
} as const satisfies OptionSpec;

export const TARGET_HELP = `  -s, --service NAME|ID  the service (required; flexd list shows them)
  -e, --env NAME|ID      the service environment (needed when the service has several)`;
