import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes (256 bits): a management session token, 43 base64url characters */
const TOKEN_BYTES = 32;

/** A new session token, shown to the client once; only its hash is stored. */
export function newSessionToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * What the session table keys on. The token is looked up by this hash, never compared as a
 * string: a timing difference in the index lookup reveals at most bits of a SHA-256 digest of
 * the attacker's own guess, which says nothing about any real token.
 */
export function sessionTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
