import { Hono } from 'hono';
import { z } from 'zod';
import { generatePassword, hashPassword, verifyPassword } from '../accounts/passwords.ts';
import { sessionTokenHash } from '../accounts/tokens.ts';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import { ROLES, type UserRow } from '../store/accounts.ts';
import { presentedToken } from './auth.ts';
import { readJson } from './body.ts';
import type { ApiEnv } from './types.ts';

/** New passwords: long enough that the login throttle makes guessing hopeless; scrypt takes any length, 1 KiB is plenty. */
export const MIN_PASSWORD_CHARS = 8;
const MAX_PASSWORD_CHARS = 1024;

export const Email = z.string().trim().min(3).max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be an e-mail address (name@host)');
export const NewPassword = z.string()
  .min(MIN_PASSWORD_CHARS, `must be at least ${MIN_PASSWORD_CHARS} characters`)
  .max(MAX_PASSWORD_CHARS, `must be at most ${MAX_PASSWORD_CHARS} characters`);
const Role = z.enum(ROLES);

const CreateUser = z.object({ email: Email, role: Role, password: NewPassword.optional() });
const UpdateUser = z.object({ role: Role.optional(), password: NewPassword.optional() });
const ChangeOwnPassword = z.object({ currentPassword: z.string().min(1), password: NewPassword });

/** What the API shows of an account: never its hash. */
export function userView(user: UserRow) {
  return { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt };
}

/**
 * Accounts (flexd's own; Kinvey's console managed its users elsewhere):
 * - `GET /v4/user`, `PUT /v4/user/password`: the caller's own account (any role);
 * - `/v4/users[/:uid]`: list, create, get, change role or password, remove (admin only, roles.ts).
 * `:uid` is an account's id or e-mail. The last admin cannot be removed or demoted, so there is
 * always someone who can manage accounts (and `flexd admin reset-password` on the host for when
 * that someone forgot the password).
 */
export function userRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { accounts } = ctx.store;

  const userOr404 = async (uid: string): Promise<UserRow> => {
    const user = await accounts.getUser(uid) ?? await accounts.findUserByEmail(uid);
    if (!user) throw new FlexdError('UserNotFound', 'The specified account could not be found.', { status: 404, debug: uid });
    return user;
  };
  const keepAnAdmin = async (user: UserRow, what: string) => {
    if (user.role === 'admin' && await accounts.countAdmins() <= 1) {
      throw new FlexdError('LastAdmin', `${user.email} is the only admin; ${what} would leave nobody to manage accounts.`, {
        status: 409, debug: 'Make another account admin first.',
      });
    }
  };

  app.get('/v4/user', (c) => c.json(userView(c.get('user'))));

  app.put('/v4/user/password', async (c) => {
    const user = c.get('user');
    const body = await readJson(c, ChangeOwnPassword);
    if (!await verifyPassword(body.currentPassword, user.passwordHash)) {
      throw new FlexdError('InvalidCredentials', 'The current password is wrong.', { status: 401 });
    }
    await accounts.setPasswordHash(user.id, await hashPassword(body.password, ctx.settings.passwordHashCost));
    // Other devices log in again with the new password; this session goes on.
    await accounts.deleteSessionsOf(user.id, sessionTokenHash(presentedToken(c.req.header('authorization'))!));
    return c.body(null, 204);
  });

  app.get('/v4/users', async (c) => c.json((await accounts.listUsers()).map(userView)));

  app.post('/v4/users', async (c) => {
    const body = await readJson(c, CreateUser);
    if (await accounts.findUserByEmail(body.email)) {
      throw new FlexdError('UserExists', `An account for ${body.email} already exists.`, { status: 409 });
    }
    const password = body.password ?? generatePassword();
    const user = await accounts.createUser(body.email, await hashPassword(password, ctx.settings.passwordHashCost), body.role);
    // A generated password is answered this once; only its hash is kept.
    return c.json({ ...userView(user), ...(body.password === undefined ? { password } : {}) }, 201);
  });

  app.get('/v4/users/:uid', async (c) => c.json(userView(await userOr404(c.req.param('uid')))));

  app.put('/v4/users/:uid', async (c) => {
    const user = await userOr404(c.req.param('uid'));
    const body = await readJson(c, UpdateUser);
    if (body.role !== undefined && body.role !== user.role) {
      await keepAnAdmin(user, `making it a ${body.role}`);
      await accounts.setRole(user.id, body.role);
    }
    if (body.password !== undefined) {
      await accounts.setPasswordHash(user.id, await hashPassword(body.password, ctx.settings.passwordHashCost));
      await accounts.deleteSessionsOf(user.id);
    }
    return c.json(userView((await accounts.getUser(user.id))!));
  });

  app.delete('/v4/users/:uid', async (c) => {
    const user = await userOr404(c.req.param('uid'));
    await keepAnAdmin(user, 'removing it');
    await accounts.deleteUser(user.id);
    return c.body(null, 204);
  });

  return app;
}
