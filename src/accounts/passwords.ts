import { randomBytes, randomInt, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { DEFAULTS } from '../config.ts';

/**
 * scrypt cost: N = 2^15 (the passwordHashCost setting's default, config.ts), r = 8, p = 1 takes
 * 32 MiB and about 50–100 ms per hash. Below OWASP's 2^17 because every fresh runtime hashes the
 * bootstrap password; the parameters are stored with each hash, so raising them later only
 * affects new hashes. The cost of new hashes where no runtime's setting says otherwise
 * (`flexd admin reset-password`).
 */
const DEFAULT_COST_LOG2: number = DEFAULTS.passwordHashCost;
const R = 8;
const P = 1;
/** scrypt refuses to use more than `maxmem`; 128 · N · r bytes plus headroom */
const MAX_MEM_BYTES = 64 * 1024 * 1024;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/**
 * A generated password: 32 characters drawn uniformly from letters and digits (190 bits). No
 * punctuation: base64url's '-' could lead, and `flexd login --password -x…` (like any argument
 * parser) reads a value starting with '-' as an option, so one generated password in 64 could not
 * be passed as written; '_' and '-' also break double-click selection in a terminal.
 */
const GENERATED_PASSWORD_CHARS = 32;
const GENERATED_PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }, keyBytes: number): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: Math.max(MAX_MEM_BYTES, 256 * cost.N * cost.r) };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * Hashes a password for storage: `scrypt$N=32768,r=8,p=1$<salt base64>$<key base64>` (N = 2^costLog2).
 *
 * @example const stored = await hashPassword('s3cret'); await verifyPassword('s3cret', stored) // true
 */
export async function hashPassword(password: string, costLog2 = DEFAULT_COST_LOG2): Promise<string> {
  const cost = { N: 2 ** costLog2, r: R, p: P };
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost, KEY_BYTES);
  return `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `password` matches `stored` (from hashPassword); the keys are compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.cost, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

/**
 * A stored hash of a random password at `costLog2`: checking a login for an unknown e-mail against
 * it costs the same scrypt as for a known one, so response times do not tell which e-mails exist.
 */
const decoys = new Map<number, Promise<string>>();
export function decoyHash(costLog2 = DEFAULT_COST_LOG2): Promise<string> {
  let decoy = decoys.get(costLog2);
  if (!decoy) decoys.set(costLog2, decoy = hashPassword(randomBytes(SALT_BYTES).toString('hex'), costLog2));
  return decoy;
}

export function generatePassword(): string {
  let password = '';
  for (let i = 0; i < GENERATED_PASSWORD_CHARS; i++) password += GENERATED_PASSWORD_ALPHABET[randomInt(GENERATED_PASSWORD_ALPHABET.length)];
  return password;
}

function parse(stored: string): { cost: { N: number; r: number; p: number }; salt: Buffer; key: Buffer } | undefined {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!match) return undefined;
  const [, n, r, p, salt, key] = match;
  return { cost: { N: Number(n), r: Number(r), p: Number(p) }, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
}
