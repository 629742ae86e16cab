import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { FlexdError } from '../errors.ts';

/**
 * One flexd per data directory (issue 9, finding 7: two of them both restored and ran every
 * environment, and after a deploy through one the other served the old version).
 *
 * The lock is a listening Unix socket in Linux's abstract namespace, named from the data dir's
 * real path: the kernel removes it when its process dies, however it dies, so a `kill -9`
 * leaves nothing stale behind, and binding it is atomic. A second flexd finds the name taken
 * and asks the holder for its pid, for the message.
 *
 * Abstract names are per network namespace: two containers that share the data dir on a volume
 * but not a network namespace do not see each other's lock (docs/security.md).
 */
export interface DataDirLock {
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const real = realpathSync(dataDir);
  const name = `\0flexd-data-dir-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
  const server: Server = createServer((socket) => socket.end(`${process.pid}\n`));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const pid = await holderPid(name);
    throw new FlexdError('DataDirInUse',
      `the data dir ${real} is in use by another flexd${pid ? ` (pid ${pid})` : ''}; stop it first or pick another --data-dir`, { status: 500 });
  }
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Asks the lock's holder for its pid; undefined when it does not say within a moment. */
function holderPid(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(name);
    const done = (pid: number | undefined) => { clearTimeout(timer); socket.destroy(); resolve(pid); };
    const timer = setTimeout(() => done(undefined), HOLDER_ANSWER_MS);
    socket.on('data', (d) => { text += d; });
    socket.on('end', () => { const n = Number.parseInt(text, 10); done(Number.isInteger(n) && n > 0 ? n : undefined); });
    socket.on('error', () => done(undefined));
  });
}

/** The holder answers from its event loop; a busy one may take a moment, and the pid is only for the message. */
const HOLDER_ANSWER_MS = 1_000;
