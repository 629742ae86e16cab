import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.ts';

/** One saved login: where flexd is and the session token it gave. */
export interface Profile {
  host: string;
  email: string;
  token: string;
}

export interface ProfileFile {
  active: string | null;
  profiles: Record<string, Profile>;
}

export const DEFAULT_PROFILE = 'default';
/** `flexd serve`'s default address. */
export const DEFAULT_HOST = 'http://127.0.0.1:8080';

/** `~/.flexd/profiles.json`, with `HOME` taken from the environment first (tests point it at a temp dir). */
export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME || homedir(), '.flexd', 'profiles.json');
}

export async function readProfiles(file = profilePath()): Promise<ProfileFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { active: null, profiles: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ProfileFile>;
    return { active: parsed.active ?? null, profiles: parsed.profiles ?? {} };
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); fix or remove it and log in again`);
  }
}

/**
 * Writes the profiles readable by the owner only (0600; the folder 0700): the file holds
 * session tokens. Written to a temporary file first and renamed, so a crash never leaves
 * half a file, and an older file with looser permissions is replaced, not reused.
 */
export async function writeProfiles(data: ProfileFile, file = profilePath()): Promise<void> {
  const dir = join(file, '..');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // the process umask cannot widen 0600, but an existing tmp file keeps its mode
  await rename(tmp, file);
}

/** The profile a command runs as: `name` (from --profile / FLEXD_PROFILE) or the active one. */
export async function currentProfile(name?: string, file = profilePath()): Promise<{ name: string; profile: Profile }> {
  const data = await readProfiles(file);
  const chosen = name ?? data.active;
  if (!chosen) throw new CliError('not logged in; run flexd login');
  const profile = data.profiles[chosen];
  if (!profile) throw new CliError(`no profile "${chosen}"; run flexd login --profile ${chosen}`);
  if (!profile.token) throw new CliError(`profile "${chosen}" is logged out; run flexd login --profile ${chosen}`);
  return { name: chosen, profile };
}

/**
 * A management URL as the user typed it, made canonical: a scheme is required by kinvey-cli,
 * flexd assumes `http://` when there is none; no trailing slash (paths are appended with one).
 *
 * @example normalizeHost('localhost:8080/') // 'http://localhost:8080'
 */
export function normalizeHost(host: string): string {
  let text = host.trim();
  if (text === '') throw new CliError('--host is empty');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`--host "${host}" is not a URL such as http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--host must be an http:// or https:// URL, not "${host}"`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
