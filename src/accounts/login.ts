import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import type { UserRow } from '../store/accounts.ts';
import { decoyHash, verifyPassword } from './passwords.ts';
import { LoginThrottle } from './throttle.ts';
import { newSessionToken, sessionTokenHash } from './tokens.ts';

/**
 * Logging in, for every door that takes a password (`POST /session`, the status page's form):
 * one set of throttles per runtime, so a guesser cannot switch doors to get more tries.
 * Failures count per (account, client address) and per client address (throttle.ts); past a
 * limit each try waits a growing delay, answered 429 `TooManyLoginAttempts` with
 * `retryAfterSeconds` before the password is checked. Nothing counts per account alone: a guesser
 * at one address never locks the account out for its owner at another. A success clears the
 * count of its (account, address) and stores a session (at most `maxSessionsPerUser` per account).
 */
export class Logins {
  readonly #byAccountAtAddress: LoginThrottle;
  readonly #byAddress: LoginThrottle;

  constructor(private readonly ctx: RuntimeContext) {
    const { settings } = ctx;
    // In the database: every node counts the same failures (store/login-throttle.ts).
    const state = ctx.store.loginThrottle;
    this.#byAccountAtAddress = new LoginThrottle({ limit: settings.loginFailuresPerAccount, windowMs: settings.loginThrottleWindowMs, scope: 'account-at-address', state });
    this.#byAddress = new LoginThrottle({ limit: settings.loginFailuresPerAddress, windowMs: settings.loginThrottleWindowMs, scope: 'address', state });
  }

  /** A new session token for `email`/`password`, or 401 `InvalidCredentials`, or 429 `TooManyLoginAttempts`. */
  async logIn(email: string, password: string, address: string): Promise<{ user: UserRow; token: string }> {
    const { accounts } = this.ctx.store;
    const accountKey = `${email.trim().toLowerCase()}\0${address}`;
    const now = Date.now();
    const waitMs = Math.max(await this.#byAccountAtAddress.retryAfterMs(accountKey, now), await this.#byAddress.retryAfterMs(address, now));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new FlexdError('TooManyLoginAttempts', `Too many failed logins. Try again in ${seconds} s.`, { status: 429, retryAfterSeconds: seconds });
    }
    const user = await accounts.findUserByEmail(email.trim());
    // Unknown e-mails pay for a scrypt too, so the answer time does not tell which exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? await decoyHash(this.ctx.settings.passwordHashCost));
    if (!user || !ok) {
      await this.#byAccountAtAddress.fail(accountKey, Date.now());
      await this.#byAddress.fail(address, Date.now());
      throw new FlexdError('InvalidCredentials', 'Invalid e-mail and/or password.', { status: 401 });
    }
    await this.#byAccountAtAddress.reset(accountKey);
    await accounts.deleteExpiredSessions(now);
    const token = newSessionToken();
    await accounts.createSession(sessionTokenHash(token), user.id, now + this.ctx.settings.sessionTtlMs, this.ctx.settings.maxSessionsPerUser);
    return { user, token };
  }
}

const perRuntime = new WeakMap<RuntimeContext, Logins>();

/** The runtime's one Logins. */
export function loginsOf(ctx: RuntimeContext): Logins {
  let logins = perRuntime.get(ctx);
  if (!logins) perRuntime.set(ctx, logins = new Logins(ctx));
  return logins;
}
