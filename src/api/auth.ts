import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { decoyHash, verifyPassword } from '../accounts/passwords.ts';
import { newSessionToken, sessionTokenHash } from '../accounts/tokens.ts';
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
 * that turns `Authorization: Kinvey <token>` into the request's user.
 */
export function sessionRoutes(ctx: RuntimeContext, requireUser: MiddlewareHandler<ApiEnv>): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { accounts } = ctx.store;

  app.post('/session', async (c) => {
    const { email, password } = await readJson(c, LoginBody);
    const user = accounts.findUserByEmail(email);
    // Unknown e-mails pay for a scrypt too, so the answer time does not tell which exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? await decoyHash());
    if (!user || !ok) throw new FlexdError('InvalidCredentials', 'Invalid e-mail and/or password.', { status: 401 });
    const now = Date.now();
    accounts.deleteExpiredSessions(now);
    const token = newSessionToken();
    accounts.createSession(sessionTokenHash(token), user.id, now + ctx.settings.sessionTtlMs);
    return c.json({ email: user.email, token });
  });

  app.delete('/session', requireUser, (c) => {
    accounts.deleteSession(sessionTokenHash(presentedToken(c.req.header('authorization'))!));
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
    const user = ctx.store.accounts.sessionUser(sessionTokenHash(token), Date.now());
    if (!user) throw new FlexdError('InvalidCredentials', TOKEN_INVALID, { status: 401, debug: 'Log in again (POST /session).' });
    c.set('user', user);
    await next();
  };
}

/** The token of `Authorization: Kinvey <token>` (kinvey-cli) or `Bearer <token>`. */
function presentedToken(header: string | undefined): string | undefined {
  const match = /^(?:Kinvey|Bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
