import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './errors.ts';

/** The options every command takes besides its own. */
export const GLOBAL_OPTIONS = {
  output: { type: 'string' },
  profile: { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/**
 * Splits a whole command line into the command's name and the rest, with the global options
 * allowed anywhere: before the command (`flexd --output json status -s orders`), after it, or
 * both. The global options found before the name are kept, in order, in `rest`, where the
 * command's own parser reads them as it reads those after the name. Only global options may
 * stand before the name: anything else there is a usage error naming it.
 *
 * @example splitCommandLine(['--output', 'json', 'status', '-s', 'orders'])
 *   // { name: 'status', rest: ['--output', 'json', '-s', 'orders'] }
 */
export function splitCommandLine(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const before: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const flag = arg.startsWith('--') ? arg.slice(2).split('=')[0] : undefined;
    if (arg === '-h' || arg === '--help' || arg === '--version') {
      before.push(arg);
    } else if (flag !== undefined && flag in GLOBAL_OPTIONS && GLOBAL_OPTIONS[flag as keyof typeof GLOBAL_OPTIONS].type === 'string') {
      if (arg.includes('=')) {
        before.push(arg);
      } else {
        if (i + 1 >= argv.length) throw new CliError(`option --${flag} needs a value`);
        before.push(arg, argv[++i]);
      }
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new CliError(`"${arg}" before the command is not a global option (those are --output, --profile, --host, --help); put it after the command`);
    } else {
      return { name: arg, rest: [...before, ...argv.slice(i + 1)] };
    }
  }
  return { name: undefined, rest: before };
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OutputMode = 'table' | 'json';

export interface GlobalValues {
  output: OutputMode;
  /** the profile named by --profile (or FLEXD_PROFILE); undefined = the active one */
  profile?: string;
  /** --host: talk to this flexd instead of the profile's */
  host?: string;
  help: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  globals: GlobalValues;
}

/**
 * Parses one command's arguments (everything after the command name) with its own options
 * plus the global ones. Unknown options and missing values are a usage error.
 *
 * @example parseCommandArgs(['my-svc', '--env', 'Production'], { env: { type: 'string' } })
 *   // { positionals: ['my-svc'], values: { env: 'Production' }, globals: { output: 'table', help: false } }
 */
export function parseCommandArgs(argv: string[], options: OptionSpec, env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, strict: true, allowPositionals: true });
  } catch (err) {
    // parseArgs' messages name the option and end with hints on how to pass a dash-value; keep the first sentence
    throw new CliError(String((err as Error).message).split('. ')[0].replace(/\.$/, ''));
  }
  const { output, profile, host, help, ...own } = parsed.values as Record<string, string | boolean | undefined>;
  if (output !== undefined && output !== 'json' && output !== 'table') {
    throw new CliError(`--output must be "json" or "table", not "${output}"`);
  }
  return {
    values: own,
    positionals: parsed.positionals,
    globals: {
      output: output === 'json' ? 'json' : 'table',
      profile: (profile as string | undefined) ?? (env.FLEXD_PROFILE || undefined),
      host: host as string | undefined,
      help: help === true,
    },
  };
}

/**
 * Environment variables as given on the command line, the two ways kinvey-cli takes them:
 * a JSON object (`{"A":"1"}`), or `K=V,K2=V2` (split on `,`, then on the first `=`, so a
 * value may hold `=` but not `,`). Like kinvey-cli, a non-string JSON value is sent as its
 * JSON text (`{"B":true}` → `"true"`): the API takes strings only. Values may be empty.
 * Which names are allowed is the server's rule, not the client's.
 *
 * @example parseEnvVars('GREETING=hi,EMPTY=') // { GREETING: 'hi', EMPTY: '' }
 */
export function parseEnvVars(text: string, flag = '--set-vars'): Record<string, string> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new CliError(`${flag}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`${flag}: JSON must be an object`);
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  }
  const vars: Record<string, string> = {};
  if (trimmed === '') return vars;
  for (const pair of trimmed.split(',')) {
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    if (eq < 0 || name === '') throw new CliError(`${flag}: expected NAME=VALUE pairs separated by commas, got "${pair}"`);
    vars[name] = pair.slice(eq + 1);
  }
  return vars;
}

/** What `--set-vars` / `--replace-vars` ask for: merge into the current variables, or replace them all. */
export type VarsChange = { mode: 'set' | 'replace'; vars: Record<string, string> };

export const VARS_OPTIONS = {
  'set-vars': { type: 'string' },
  'replace-vars': { type: 'string' },
} as const satisfies OptionSpec;

export function varsChange(values: ParsedArgs['values']): VarsChange | undefined {
  const set = values['set-vars'];
  const replace = values['replace-vars'];
  if (set !== undefined && replace !== undefined) throw new CliError('--set-vars and --replace-vars cannot be used together');
  if (typeof set === 'string') return { mode: 'set', vars: parseEnvVars(set, '--set-vars') };
  if (typeof replace === 'string') return { mode: 'replace', vars: parseEnvVars(replace, '--replace-vars') };
  return undefined;
}

/** The variables after the change: `set` merges into `current`, `replace` drops what it does not name. */
export function applyVarsChange(current: Record<string, string> | undefined, change: VarsChange): Record<string, string> {
  return change.mode === 'set' ? { ...(current ?? {}), ...change.vars } : { ...change.vars };
}

/** A positive whole number option (`--page`, `--number`), or undefined when absent. */
export function positiveInt(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} must be a whole number of 1 or more, not "${value}"`);
  return n;
}

/** An ISO-8601 date option (`--from`, `--to`), normalized to UTC; undefined when absent. */
export function isoDate(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new CliError(`${flag} must be an ISO-8601 date such as 2024-05-01T12:00:00Z, not "${text}"`);
  return new Date(ms).toISOString();
}

/** The string value of a string option, or undefined; `--x` given without a value never gets here (parseArgs refuses it). */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * `--runtime`: a Node major as people type it (`node22`, or Kinvey's `node12`) becomes the API's
 * name (`flex-runtime-node22`); any other name (a runtime configured at `flexd serve --runtime
 * NAME=…`) is passed as given. Whether flexd can run it is the server's answer (InvalidRuntime).
 */
export function runtimeOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  if (/^node\d{1,3}$/.test(text)) return `flex-runtime-${text}`;
  if (!/^[A-Za-z0-9_.-]+$/.test(text)) throw new CliError(`--runtime "${text}" is not a runtime name such as node22`);
  return text;
}
