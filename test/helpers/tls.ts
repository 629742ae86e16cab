import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { CleanupContext } from './cleanup.ts';
import { tempDir } from './tmp.ts';

/** True when the openssl command is installed (tests that need a certificate skip without it). */
export function hasOpenssl(): boolean {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** A self-signed certificate for 127.0.0.1, valid one day, in a temporary folder: `{ dir, cert, key }` paths. */
export async function selfSignedCertificate(cleanup: CleanupContext): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await tempDir(cleanup);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { dir, cert, key };
}
