import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { str } from '../args.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { stdinLines } from '../stdin.ts';

/** What `reset-password` accepts as a new password: the API's rule (api/users.ts). */
const MIN_PASSWORD_CHARS = 8;

export const admin: Command = {
  name: 'admin',
  summary: 'host-side recovery: reset-password on a data dir, with no server and no login',
  usage: `Usage: flexd admin reset-password --data-dir DIR --email EMAIL [--password-stdin]

Sets a new password for an account directly in the database of DIR, on the host where flexd
keeps its data (whoever can write DIR can do this anyway). No server needs to run and no login
is needed. Every session of the account ends. Without --password-stdin a password is generated
and printed once. Works while flexd serve runs on DIR, too.

  --data-dir DIR         flexd's data directory (flexd serve --data-dir; default ./.flexd)
  --email EMAIL          the account
  --password-stdin       read the new password from stdin`,
  options: { 'data-dir': { type: 'string' }, email: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
  async run({ args, out }) {
    const [action, ...rest] = args.positionals;
    if (action !== 'reset-password') throw new CliError(action ? `unknown action "${action}": flexd admin reset-password` : 'flexd admin needs an action: reset-password');
    if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}"`);
    const dataDir = resolve(str(args.values['data-dir']) ?? './.flexd');
    const email = str(args.values.email);
    if (!email) throw new CliError('--email is required');
    if (!existsSync(resolve(dataDir, 'flexd.db'))) throw new CliError(`${dataDir} holds no flexd database (flexd.db); give --data-dir`);
    const given = args.values['password-stdin'] ? (await stdinLines('--password-stdin', 1))[0] : undefined;
    if (given !== undefined && given.length < MIN_PASSWORD_CHARS) throw new CliError(`the password must be at least ${MIN_PASSWORD_CHARS} characters`);

    // Loaded here: the other commands never open the database.
    const { openStore } = await import('../../store/index.ts');
    const { generatePassword, hashPassword } = await import('../../accounts/passwords.ts');
    const store = await openStore(dataDir);
    try {
      const user = await store.accounts.findUserByEmail(email);
      if (!user) {
        const known = (await store.accounts.listUsers()).map((u) => `${u.email} (${u.role})`).join(', ') || 'none';
        throw new CliError(`no account ${email} in ${dataDir}; accounts: ${known}`, 'UserNotFound');
      }
      const password = given ?? generatePassword();
      await store.accounts.setPasswordHash(user.id, await hashPassword(password));
      await store.accounts.deleteSessionsOf(user.id);
      out.result({ email: user.email, role: user.role, ...(given === undefined ? { password } : {}) }, () => {
        out.say(`Reset the password of ${user.email} (${user.role}); its sessions have ended.`);
        if (given === undefined) out.say(`Password: ${password}`);
      });
    } finally {
      await store.close();
    }
  },
};
