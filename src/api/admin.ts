import { generatePassword, hashPassword, verifyPassword } from '../accounts/passwords.ts';
import type { RuntimeContext } from '../context.ts';

export const DEFAULT_ADMIN_EMAIL = 'admin@flexd.local';

export interface BootstrapOptions {
  email?: string;
  password?: string;
  /** no password given and no account yet: create the admin with a generated password (what `flexd serve` does) */
  generate?: boolean;
}

/**
 * The first start creates the admin account (SPEC §2): from `email`/`password` (`flexd serve`
 * passes FLEXD_ADMIN_EMAIL/FLEXD_ADMIN_PASSWORD), or with a generated password when `generate`
 * is set — returned so that the caller shows it, once; only its scrypt hash is stored. Without a
 * password nor `generate` (an embedded runtime), no account is made: nothing needs one.
 *
 * Once any account exists, the options change nothing. A password given then that is not the
 * account's is not silently ignored: a warning says so and how to change a password.
 *
 * @example const { generatedPassword } = await bootstrapAdmin(ctx, { generate: true });
 */
export async function bootstrapAdmin(ctx: RuntimeContext, o: BootstrapOptions): Promise<{ email?: string; generatedPassword?: string }> {
  const { accounts } = ctx.store;
  const email = o.email?.trim() || DEFAULT_ADMIN_EMAIL;
  const given = o.password !== undefined && o.password !== '';
  const password = given ? o.password! : o.generate ? generatePassword() : undefined;
  // Several nodes starting together on a new database: one of them makes the first admin.
  if (password !== undefined && await accounts.countUsers() === 0 && await accounts.createFirstUser(email, await hashPassword(password, ctx.settings.passwordHashCost), 'admin')) {
    ctx.log.info({ email }, 'created the first admin account');
    return given ? { email } : { email, generatedPassword: password };
  }
  // Accounts exist (or another node just made the first): the options change nothing.
  if (given) {
    const user = await accounts.findUserByEmail(email);
    if (!user || !await verifyPassword(o.password!, user.passwordHash)) {
      ctx.log.warn({ email },
        'the admin password given (FLEXD_ADMIN_PASSWORD) is ignored: this data dir already has accounts, and it only sets the first admin. '
        + 'Change a password with `flexd user passwd`, or on this host with `flexd admin reset-password --data-dir DIR --email EMAIL`.');
    }
  }
  return {};
}
