/**
 * Locks no one else can take (docs/security.md, "Another local account"). flexd's locks (the
 * data dir, the uid range) are listening sockets in Linux's abstract namespace: binding is
 * atomic and the kernel drops the name when its process dies, however it dies. But any process
 * may bind any abstract name first — a daemon, a replica — and once made flexd refuse to start
 * or move its uid range (issue 15, finding 5).
 *
 * So a lock's name carries a secret: a random token kept in a file that only flexd can read,
 * in a folder only flexd can write (the data dir; for the uid range, root's /run/flexd). Every
 * flexd that may take the lock reads the same token and so binds the same name; nobody else can
 * know it, so nobody else can take it first.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';

/**
 * The token in `file`, made on first use: created exclusively (no link followed), 0600, in a
 * folder that must be flexd's own and writable by nobody else.
 *
 * @throws Error when the folder or the file belongs to another account or others may write the folder
 */
export function lockToken(file: string): string {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertPrivate(dir, 'folder');
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('hex'));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
      throw new Error(`${file} is not a private file of flexd's own (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); remove it`);
    }
    const token = readFileSync(fd, 'utf8').trim();
    // Another flexd may be between creating the file and writing it: an empty token is not one.
    if (token.length < 32) throw Object.assign(new Error(`${file} holds no token yet`), { code: 'EAGAIN' });
    return token;
  } finally {
    closeSync(fd);
  }
}

function assertPrivate(dir: string, what: string): void {
  const st = lstatSync(dir);
  // Its owner (flexd's account, or root) could replace the token anyway; nobody else may write in it.
  if (!st.isDirectory() || (st.uid !== process.getuid?.() && st.uid !== 0) || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a ${what} only flexd's account can write (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): its locks could be taken by another account`);
  }
}

/** The token, waiting out another flexd that is writing it this very moment. */
export async function readLockToken(file: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return lockToken(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** sockaddr_un's sun_path: the bytes of an abstract address, its leading NUL included. */
const SUN_PATH_BYTES = 108;

/**
 * The path to listen on or connect to for the abstract name `name`, padded with NULs to the whole
 * of sun_path. Node 20 binds an abstract name padded that way whatever it is given; Node 22 and
 * later bind exactly the bytes given. The kernel compares abstract addresses byte for byte, so an
 * unpadded name held by a flexd on Node 20 was free to a flexd on Node 24 on the same host: both
 * took the same uid range, and each one's build clean-up killed the other's builds (seen as
 * "the packer's killed by SIGKILL" with two test suites side by side), and both could open one
 * data dir. Padded, every major binds the same address, and Node 20 the one it always bound.
 */
export function abstractAddress(name: string): string {
  const path = `\0${name}`;
  if (Buffer.byteLength(path) > SUN_PATH_BYTES) throw new Error(`abstract socket name too long: ${name}`);
  return path + '\0'.repeat(SUN_PATH_BYTES - Buffer.byteLength(path));
}

/**
 * Listens on the abstract name `name` (abstractAddress); undefined when it is taken. The server answers each
 * connection with flexd's pid (for the message of a second flexd) and does not keep flexd alive.
 */
export async function listenAbstract(name: string): Promise<Server | undefined> {
  const server = createServer((socket) => {
    // The caller may hang up before the answer (holderPid gives up after a moment; a sweep of
    // temporary data dirs asks every live lock): the write then fails with EPIPE or ECONNRESET,
    // which on a socket nobody listens to would crash the process that holds the lock.
    socket.on('error', () => socket.destroy());
    socket.end(`${process.pid}\n`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(abstractAddress(name), () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw err;
  }
  server.unref();
  return server;
}
