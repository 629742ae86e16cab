import type { HttpBindings } from '@hono/node-server';
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { loginsOf } from '../accounts/login.ts';
import { sessionTokenHash } from '../accounts/tokens.ts';
import type { RuntimeContext } from '../context.ts';
import { secretsEqual } from '../secrets.ts';
import type { UserRow } from '../store/accounts.ts';

/**
 * The status page's sessions: the same sessions as `POST /session` (one table, one expiry),
 * carried in a cookie the page's script cannot read (HttpOnly), never sent by another site
 * (SameSite=Strict), HTTPS-only when flexd serves HTTPS (Secure). The management API never reads
 * the cookie, so the only cookie-authenticated changes are the page's own, and those also need
 * the session's CSRF token in a header (`X-CSRF-Token`) that only a page of this origin can send.
 */
export const SESSION_COOKIE = 'flexd_session';

export type Role = 'admin' | 'deployer' | 'viewer';

export interface PageUser { user: UserRow; role: Role; token: string; csrf: string }

/** The account's role; accounts from before roles existed are admins. */
export function roleOf(user: UserRow): Role {
  const role = (user as UserRow & { role?: string }).role;
  return role === 'deployer' || role === 'viewer' ? role : 'admin';
}

/** May recycle and roll back from the page. */
export function canOperate(role: Role): boolean {
  return role === 'admin' || role === 'deployer';
}

/** The signed-in user of the request, or undefined. */
export async function pageUser(ctx: RuntimeContext, c: Context): Promise<PageUser | undefined> {
  const token = getCookie(c, SESSION_COOKIE);
  if (!token || token.length > 200) return undefined;
  const user = await ctx.store.accounts.sessionUser(sessionTokenHash(token), Date.now());
  return user ? { user, role: roleOf(user), token, csrf: csrfToken(token) } : undefined;
}

/**
 * Checks e-mail and password as `POST /session` does, through the same throttles (accounts/login.ts);
 * a new session token, or undefined. Too many failures throw 429 `TooManyLoginAttempts`.
 */
export async function signIn(ctx: RuntimeContext, email: string, password: string, address = 'unknown'): Promise<string | undefined> {
  try {
    return (await loginsOf(ctx).logIn(email, password, address)).token;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'InvalidCredentials') return undefined;
    throw err;
  }
}

export async function signOut(ctx: RuntimeContext, token: string): Promise<void> {
  await ctx.store.accounts.deleteSession(sessionTokenHash(token));
}

/** The Set-Cookie value of a session (or of its removal, with `token` empty). */
export function sessionCookie(c: Context, token: string, maxAgeMs: number): string {
  const secure = isTls(c) ? '; Secure' : '';
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure}`;
}

/** A change (recycle, rollback, sign-out) carries the session's CSRF token, and comes from this origin if the browser says where from. */
export function csrfOk(c: Context, user: PageUser, formToken?: string): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== 'null') {
    let host: string;
    try { host = new URL(origin).host; } catch { return false; }
    if (host !== c.req.header('host')) return false;
  }
  return secretsEqual(c.req.header('x-csrf-token') ?? formToken, user.csrf);
}

function csrfToken(sessionToken: string): string {
  return createHash('sha256').update(`flexd-csrf\0${sessionToken}`).digest('base64url');
}

function isTls(c: Context): boolean {
  const socket = (c.env as HttpBindings | undefined)?.incoming?.socket as { encrypted?: boolean } | undefined;
  return socket?.encrypted === true;
}
