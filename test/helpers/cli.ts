/**
 * Runs the `flexd` command as a user who installed the package runs it: the bin of the packed
 * tarball's install (test/helpers/packed.ts, built once per content of the package and shared by
 * every test file), so each command starts from the compiled dist/ instead of compiling the
 * sources through tsx (about half the CPU time of a command). HOME is a temp dir of the test's
 * (the profile file), none of the test runner's variables, optional stdin text.
 *
 *   const cli = await flexdCli(home);
 *   const { code, stdout } = await cli.run(['user', 'list']);
 *   const users = await cli.json(['user', 'list']);
 *
 * (bin/flexd.js run from the checkout, through tsx, is what `npm start` runs: test/serve.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packedFlexd } from './packed.ts';
import { withDeadline } from './wait.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The installed package's bin, as `npx flexd` finds it. */
export async function installedFlexdBin(): Promise<string> {
  return join((await packedFlexd()).nodeModules, 'flexd', 'bin', 'flexd.js');
}

/** node start-up plus a few API calls, or a swap of replicas (a deploy passes its own `timeoutMs`) */
export const COMMAND_TIMEOUT_MS = 60_000;

export interface CliRun { code: number | null; stdout: string; stderr: string }

export async function flexdCli(home: string) {
  const BIN = await installedFlexdBin();
  function env(extra: Record<string, string>): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
    for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'FLEXD_PROFILE', 'FLEXD_PASSWORD', 'FLEXD_EMAIL', 'FLEXD_URL']) {
      if (!(name in extra)) delete e[name];
    }
    return e;
  }

  /** Starts `flexd <args>` and leaves it running (`logs --follow`): the caller ends it. */
  function start(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
    return spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async function run(args: string[], o: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: env(o.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.stdin.end(o.stdin ?? '');
    const code = await withDeadline(`flexd ${args.join(' ')}`, new Promise<number | null>((r) => child.once('close', r)), o.timeoutMs ?? COMMAND_TIMEOUT_MS)
      .catch((err) => { child.kill('SIGKILL'); throw err; });
    return { code, stdout, stderr };
  }

  async function ok(args: string[], o?: Parameters<typeof run>[1]): Promise<string> {
    const r = await run(args, o);
    assert.equal(r.code, 0, `flexd ${args.join(' ')} exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    return r.stdout;
  }

  /** `--output json`'s result. */
  async function json<T = any>(args: string[], o?: Parameters<typeof run>[1]): Promise<T> {
    return (JSON.parse(await ok([...args, '--output', 'json'], o)) as { result: T }).result;
  }

  /** Expects exit 1 with exactly one `flexd: …` line on stderr and nothing on stdout; returns the line. */
  async function fails(args: string[], o?: Parameters<typeof run>[1]): Promise<string> {
    const r = await run(args, o);
    assert.equal(r.code, 1, `flexd ${args.join(' ')} should fail\n${r.stdout}${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
    assert.match(lines[0], /^flexd: /);
    return lines[0];
  }

  return { run, ok, json, fails, start };
}

/** What flexdCli gives: run, ok, json, fails, start. */
export type FlexdCli = Awaited<ReturnType<typeof flexdCli>>;
