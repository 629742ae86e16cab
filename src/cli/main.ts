import { readFileSync } from 'node:fs';
import { parseCommandArgs } from './args.ts';
import { GLOBAL_HELP, type Command } from './command.ts';
import { COMMANDS, findCommand } from './commands/index.ts';
import { CliError, failureLine, failureParts } from './errors.ts';
import { Output } from './output.ts';
import { dev, DEV_HELP } from './dev.ts';
import { serve, SERVE_HELP } from './serve.ts';

/** `flexd <command>`: serve, plus the kinvey-like operations (src/cli/commands). */
const [command, ...args] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (command) {
    case 'serve':
      await serve(args);
      return;
    case 'dev':
      await dev(args);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(helpFor(args[0]));
      return;
    case 'version':
    case '--version':
      console.log(version());
      return;
    default: {
      const found = findCommand(command);
      if (!found) throw new CliError(`unknown command "${command}" (flexd help lists them)`);
      await run(found, args);
    }
  }
}

async function run(cmd: Command, argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(argv, cmd.options);
  if (parsed.globals.help) {
    console.log(`${cmd.usage}\n\n${GLOBAL_HELP}`);
    return;
  }
  await cmd.run({ args: parsed, out: new Output(parsed.globals.output), env: process.env });
}

function helpFor(name: string | undefined): string {
  if (name === 'serve') return SERVE_HELP;
  if (name === 'dev') return DEV_HELP;
  const cmd = name === undefined ? undefined : findCommand(name);
  if (cmd) return `${cmd.usage}\n\n${GLOBAL_HELP}`;
  const width = Math.max(...COMMANDS.map((c) => c.name.length), 'serve'.length);
  return [
    'Usage: flexd <command> [options]',
    '',
    'Commands:',
    `  ${'serve'.padEnd(width)}  run flexd (flexd serve --help)`,
    `  ${'dev'.padEnd(width)}  serve a project folder in place and redeploy it on every save (flexd dev --help)`,
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'The commands besides serve talk to a flexd\'s management API, the one kinvey-cli uses:',
    'start with flexd login. flexd <command> --help describes each one.',
    '',
    GLOBAL_HELP,
  ].join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `flexd ${pkg.version}`;
}

/** `--output json` anywhere in the arguments: a failure is then one JSON line too, for the script reading stdout. */
const jsonOutput = args.some((a, i) => a === '--output=json' || (a === '--output' && args[i + 1] === 'json'));

main().catch((err: unknown) => {
  if (jsonOutput) process.stdout.write(`${JSON.stringify({ error: failureParts(err) })}\n`);
  else console.error(`flexd: ${failureLine(err)}`);
  if (process.env.FLEXD_DEBUG && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(1);
});
