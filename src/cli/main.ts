import { readFileSync } from 'node:fs';
import { parseCommandArgs, splitCommandLine } from './args.ts';
import { GLOBAL_HELP, type Command } from './command.ts';
import { allCommands, COMMAND_NAMES, findCommand } from './commands/index.ts';
import { CliError, failureLine, failureParts } from './errors.ts';
import { Output } from './output.ts';
import { requestedLogFormat, ServeLines } from './serve-lines.ts';

/**
 * `flexd <command>`: serve, plus the kinvey-like operations (src/cli/commands). Global options
 * (`--output`, `--profile`, `--host`, `--help`) may stand anywhere on the line, before the
 * command's name too.
 */
const argv = process.argv.slice(2);

async function main(): Promise<void> {
  const { name, rest } = splitCommandLine(argv);
  if (name === undefined) {
    console.log(rest.includes('--version') ? version() : await helpFor(undefined));
    return;
  }
  if (name === 'help') {
    console.log(await helpFor(splitCommandLine(rest).name));
    return;
  }
  if (name === 'version') {
    console.log(version());
    return;
  }
  const found = await findCommand(name);
  if (!found) throw new CliError(`unknown command "${name}"${suggestion(name)} (flexd help lists them)`);
  await run(found, rest);
}

async function run(cmd: Command, rest: string[]): Promise<void> {
  if (cmd.ownArgs) {
    await cmd.run({ args: parseCommandArgs([], {}), argv: rest, out: new Output('table'), env: process.env });
    return;
  }
  const parsed = parseCommandArgs(rest, cmd.options);
  if (parsed.globals.help) {
    console.log(`${cmd.usage}\n\n${GLOBAL_HELP}`);
    return;
  }
  await cmd.run({ args: parsed, argv: rest, out: new Output(parsed.globals.output), env: process.env });
}

async function helpFor(name: string | undefined): Promise<string> {
  const cmd = name === undefined ? undefined : await findCommand(name);
  if (cmd) return cmd.ownArgs ? cmd.usage : `${cmd.usage}\n\n${GLOBAL_HELP}`;
  const commands = await allCommands();
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: flexd <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'The commands besides serve talk to a flexd\'s management API, the one kinvey-cli uses:',
    'start with flexd login. flexd <command> --help describes each one.',
    '',
    GLOBAL_HELP,
  ].join('\n');
}

/** ` (did you mean "status"?)` for a name one or two typos away from a command, or a prefix of one. */
function suggestion(name: string): string {
  const near = COMMAND_NAMES.find((c) => c.startsWith(name) || editDistance(c, name) <= Math.min(2, Math.floor(c.length / 3)));
  return near ? ` (did you mean "${near}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `flexd ${pkg.version}`;
}

/** `--output json` anywhere in the arguments: a failure is then one JSON line too, for the script reading stdout. */
const jsonOutput = argv.some((a, i) => a === '--output=json' || (a === '--output' && argv[i + 1] === 'json'));

main().catch((err: unknown) => {
  let name: string | undefined;
  try {
    name = splitCommandLine(argv).name;
  } catch { /* the usage error being reported */ }
  const serving = name === 'serve' || name === 'dev';
  if (serving && requestedLogFormat(argv) === 'json') new ServeLines('json').err('error', failureLine(err));
  else if (jsonOutput && !serving) process.stdout.write(`${JSON.stringify({ error: failureParts(err) })}\n`);
  else console.error(`flexd: ${failureLine(err)}`);
  if (process.env.FLEXD_DEBUG && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(1);
});
