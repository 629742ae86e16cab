/**
 * Runs a Flex service project the way its author runs it locally: plain Node, the SDK's own
 * HTTP receiver. This is the reference flexd's data plane is compared against.
 *
 *   const svc = await startStandalone({ projectDir, secret: 'abc', env: { NODE_ENV: 'Development' } }, t);
 *   await fetch(`${svc.url}/healthcheck`);
 *
 * The project's `main` runs with a fresh temporary directory as its cwd: the SDK's task runner
 * appends to `output.log` in the cwd, which must not land in the fixture folder, and
 * `require('kinvey-flex-sdk')` still resolves from the script's own location (the repo's
 * node_modules). The port comes from the project reading `FIXTURE_PORT` (the kitchen-sink
 * fixture does); the secret from `FLEX_SHARED_SECRET`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { CleanupContext } from './cleanup.ts';
import { createTempDir, removeDir } from './tmp.ts';
import { WaitTimeoutError, withDeadline } from './wait.ts';

/** `node .` of the SDK prints its ready line within a second; allow for a loaded CI box. */
export const STANDALONE_READY_TIMEOUT_MS = 15_000;
/** The SDK closes its HTTP server at once on SIGTERM; after this, SIGKILL. */
export const STANDALONE_STOP_GRACE_MS = 5_000;
/** Free-port probing races with other processes; retry a start that lost the race. */
const PORT_RACE_ATTEMPTS = 3;

export interface StandaloneOptions {
  /** The Flex service project (its package.json `main` is run). */
  projectDir: string;
  /** Passed as FLEX_SHARED_SECRET; absent = the service checks no secret. */
  secret?: string;
  /** Extra environment for the service. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /**
   * Run `node .` in the project folder itself, as its author does: relative reads and writes
   * (and the SDK's output.log) land in `projectDir`, which then must be a copy (its node_modules
   * resolving the SDK). Default: a fresh temporary cwd.
   */
  inProject?: boolean;
  /** The Node that runs it (default: the one running the tests), e.g. a runtime flexd installed. */
  nodePath?: string;
}

export interface StandaloneService {
  url: string;
  port: number;
  pid: number;
  /** The service's working directory (holds the SDK's output.log). */
  cwd: string;
  /** Everything the service wrote to stdout and stderr so far. */
  output(): string;
  /** Settles when the process exits, whoever ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait for exit, SIGKILL after the grace; then removes the cwd. Idempotent. */
  stop(): Promise<void>;
}

// Any child still alive when the test process exits is killed, even if a test forgot stop().
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Asks the OS for a free TCP port (listen on 0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts the project and resolves once it printed `Service listening on <port>`. */
export async function startStandalone(options: StandaloneOptions, t?: CleanupContext): Promise<StandaloneService> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const service = await startOnce(options);
      t?.after(() => service.stop());
      return service;
    } catch (err) {
      const lostPortRace = err instanceof StandaloneStartError && err.output.includes('EADDRINUSE');
      if (!lostPortRace || attempt >= PORT_RACE_ATTEMPTS) throw err;
    }
  }
}

export class StandaloneStartError extends Error {
  readonly output: string;
  constructor(message: string, output: string) {
    super(`${message}\n--- service output ---\n${output}`);
    this.name = 'StandaloneStartError';
    this.output = output;
  }
}

async function startOnce(options: StandaloneOptions): Promise<StandaloneService> {
  const projectDir = resolve(options.projectDir);
  const pkg = JSON.parse(await readFile(join(projectDir, 'package.json'), 'utf8')) as { main?: string };
  const script = join(projectDir, pkg.main ?? 'index.js');
  const port = await freePort();
  const cwd = options.inProject ? projectDir : await createTempDir('flexd-standalone-');

  // The test runner's own variables must not leak into the service: NODE_OPTIONS may carry
  // tsx's loader, NODE_TEST_CONTEXT makes a child Node report to the parent's test runner.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'SDK_RECEIVER', 'FLEX_SHARED_SECRET']) delete env[name];
  Object.assign(env, options.env, { FIXTURE_PORT: String(port) });
  if (options.secret !== undefined) env.FLEX_SHARED_SECRET = options.secret;

  const child = spawn(options.nodePath ?? process.execPath, [options.inProject ? '.' : script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolveExit({ code, signal });
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        try {
          await withDeadline(`standalone pid ${child.pid} to exit after SIGTERM`, exited, STANDALONE_STOP_GRACE_MS);
        } catch (err) {
          if (!(err instanceof WaitTimeoutError)) throw err;
          child.kill('SIGKILL');
          await exited;
        }
      }
      if (!options.inProject) await removeDir(cwd);
    })();
    return stopping;
  };

  const readyLine = `Service listening on ${port}`;
  const ready = new Promise<void>((resolveReady, reject) => {
    const onData = (): void => {
      if (output.includes(readyLine)) {
        child.stdout.off('data', onData);
        resolveReady();
      }
    };
    child.stdout.on('data', onData);
    void exited.then(({ code, signal }) => reject(
      new StandaloneStartError(`standalone service exited before it was ready (code ${code}, signal ${signal})`, output),
    ));
  });

  try {
    await withDeadline(`"${readyLine}" from ${script}`, ready, options.readyTimeoutMs ?? STANDALONE_READY_TIMEOUT_MS);
  } catch (err) {
    await stop();
    if (err instanceof StandaloneStartError) throw err;
    throw new StandaloneStartError(String(err), output);
  }

  // The SDK binds `localhost`; connect to the same name so both sides resolve it alike.
  return { url: `http://localhost:${port}`, port, pid: child.pid!, cwd, output: () => output, exited, stop };
}
