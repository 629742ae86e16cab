/**
 * Runs the real kinvey-cli (`kinvey <args>`) in a project folder, as a user would: HOME a temp
 * dir of the test's (its profiles), loopback never proxied, none of the test runner's variables.
 *
 *   const r = await runKinvey({ home, cwd: projectDir }, ['flex', 'status', '--service', id]);
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CliRun } from './cli.ts';

const KINVEY_BIN = fileURLToPath(new URL('../../node_modules/kinvey-cli/bin/kinvey', import.meta.url));
/** one CLI call: its Node's start-up plus a few API calls (a deploy's upload included) */
const KINVEY_COMMAND_TIMEOUT_MS = 45_000;

export function runKinvey(where: { home: string; cwd: string }, args: readonly string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: where.home, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
  // tsx's loader and the test runner's channel must not reach the CLI's Node.
  for (const name of Object.keys(env)) if (name === 'NODE_OPTIONS' || name === 'NODE_TEST_CONTEXT' || name.startsWith('KINVEY_CLI_')) delete env[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [KINVEY_BIN, ...args, '--suppress-version-check', '--no-color'],
      { cwd: where.cwd, env, timeout: KINVEY_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
  });
}
