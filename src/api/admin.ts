import { generatePassword, hashPassword } from '../accounts/passwords.ts';
import type { RuntimeContext } from '../context.ts';

export const DEFAULT_ADMIN_EMAIL = 'admin@flexd.local';

/**
 * The first start creates the admin account (SPEC §2): from `email`/`password` (`flexd serve`
 * passes FLEXD_ADMIN_EMAIL/FLEXD_ADMIN_PASSWORD), or with a generated password printed once to
 * stdout. Only the password's scrypt hash is stored. Once any user exists this does nothing.
 *
 * @example await bootstrapAdmin(ctx, { email: 'ops@example.com', password: process.env.FLEXD_ADMIN_PASSWORD });
 */
export async function bootstrapAdmin(ctx: RuntimeContext, o: { email?: string; password?: string }): Promise<void> {
  const { accounts } = ctx.store;
  if (accounts.countUsers() > 0) return;
  const email = o.email?.trim() || DEFAULT_ADMIN_EMAIL;
  const generated = o.password === undefined || o.password === '';
  const password = generated ? generatePassword() : o.password!;
  accounts.createUser(email, await hashPassword(password));
  // The one time the password is shown; it is never logged anywhere else.
  if (generated) process.stdout.write(`flexd: created admin ${email} with password ${password}\n`);
}
