import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { loginsOf } from '../accounts/login.ts';
import { sessionTokenHash } from '../accounts/tokens.ts';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import { readJson } from './body.ts';
import type { ApiEnv } from './types.ts';

/** kinvey-cli reacts to this exact description with "Run 'kinvey profile login' to reauthenticate." */
const TOKEN_INVALID = 'Authorization token invalid or expired.';

const LoginBody = z.object({
  email: z.string().min(1),
  password: z.string().min(1),
  twoFactorToken: z.string().optional(),
});

/**
 * `POST /session` (log in: `{email, token}`), `DELETE /session` (log out), and the middleware
 * that turns `Authorization: Kinvey <token>` into the request's user. Failed logins are counted
 * per account and per client address; past the limit a login is answered 429 with Retry-After
 * before its password is checked (so a guesser also stops costing a scrypt per try).
 */
export function sessionRoutes(ctx: RuntimeContext, requireUser: MiddlewareHandler<ApiEnv>): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { accounts } = ctx.store;

  app.post('/session', async (c) => {
    const { email, password } = await readJson(c, LoginBody);
    const { user, token } = await loginsOf(ctx).logIn(email, password, clientAddress(c, ctx.settings.trustProxy));
    return c.json({ email: user.email, token });
  });

  app.delete('/session', requireUser, async (c) => {
    await accounts.deleteSession(sessionTokenHash(presentedToken(c.req.header('authorization'))!));
    return c.body(null, 204);
  });

  return app;
}

/** Resolves the session's user or answers 401 `InvalidCredentials`. */
export function requireUser(ctx: RuntimeContext): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const token = presentedToken(c.req.header('authorization'));
    if (token === undefined) {
      throw new FlexdError('InvalidCredentials', TOKEN_INVALID, { status: 401, debug: 'Send "Authorization: Kinvey <token>" from POST /session.' });
    }
    const user = await ctx.store.accounts.sessionUser(sessionTokenHash(token), Date.now());
    if (!user) throw new FlexdError('InvalidCredentials', TOKEN_INVALID, { status: 401, debug: 'Log in again (POST /session).' });
    c.set('user', user);
    await next();
  };
}

/**
 * The client's address: as the socket sees it, or — with `trustProxy`, behind a reverse proxy —
 * the last X-Forwarded-For entry (the one the proxy itself appended; earlier ones are the client's word).
 */
export function clientAddress(c: Context, trustProxy = false): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',').map((a) => a.trim()).filter((a) => a !== '').at(-1);
    if (forwarded) return forwarded;
  }
  return (c.env as HttpBindings | undefined)?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** The token of `Authorization: Kinvey <token>` (kinvey-cli) or `Bearer <token>`. */
export function presentedToken(header: string | undefined): string | undefined {
  const match = /^(?:Kinvey|Bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
