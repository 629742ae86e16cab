import { str } from '../args.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { askHidden, canPrompt } from '../prompt.ts';
import { connect } from '../session.ts';
import { stdinLines } from '../stdin.ts';

const ROLES = ['admin', 'deployer', 'viewer'];

export const user: Command = {
  name: 'user',
  summary: 'manage accounts: add, list, role, remove; passwd changes your own password',
  usage: `Usage: flexd user add EMAIL --role admin|deployer|viewer [--password-stdin]
       flexd user list
       flexd user role EMAIL --role admin|deployer|viewer
       flexd user remove EMAIL
       flexd user passwd [--password-stdin]

Accounts of this flexd and their roles: a viewer reads (lists, status, logs), a deployer also
creates, changes, deploys, rolls back and recycles, an admin also manages accounts. add, list,
role and remove need an admin; passwd is for anyone. The last admin cannot be removed or demoted.

  --role ROLE            add, role: the account's role
  --password-stdin       add: read the password from stdin (without it one is generated and
                         printed once); passwd: read the current and the new password, one a line`,
  options: { role: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
  async run({ args, out }) {
    const [action, ...rest] = args.positionals;
    const onlyEmail = () => {
      if (rest.length !== 1) throw new CliError(`flexd user ${action} takes one e-mail address`);
      return rest[0];
    };
    switch (action) {
      case 'add': {
        const email = onlyEmail();
        const role = str(args.values.role);
        if (!role || !ROLES.includes(role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
        const password = args.values['password-stdin'] ? (await stdinLines('--password-stdin', 1))[0] : undefined;
        const api = await connect(args.globals);
        const made = await api.createUser({ email, role, ...(password !== undefined ? { password } : {}) });
        out.result(made, () => {
          out.say(`Added ${made.email} (${made.role}).`);
          if (made.password) out.say(`Password: ${made.password}\n(shown this once; they can change it with flexd user passwd)`);
        });
        return;
      }
      case 'list': {
        if (rest.length > 0) throw new CliError('flexd user list takes no arguments');
        const api = await connect(args.globals);
        const users = await api.users();
        out.result(users, () => out.list(users.map((u) => ({ ...u })), ['email', 'role', 'createdAt', 'id']));
        return;
      }
      case 'role': {
        const email = onlyEmail();
        const role = str(args.values.role);
        if (!role || !ROLES.includes(role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
        const api = await connect(args.globals);
        const changed = await api.setRole(email, role);
        out.result(changed, () => out.say(`${changed.email} is now a ${changed.role}.`));
        return;
      }
      case 'remove': {
        const email = onlyEmail();
        const api = await connect(args.globals);
        await api.deleteUser(email);
        out.result({ email }, () => out.say(`Removed ${email}; its sessions have ended.`));
        return;
      }
      case 'passwd': {
        if (rest.length > 0) throw new CliError('flexd user passwd takes no arguments (it changes your own password)');
        const [current, next] = args.values['password-stdin'] ? await stdinLines('--password-stdin', 2) : await askPasswords();
        const api = await connect(args.globals);
        await api.changeOwnPassword(current, next);
        out.result(null, () => out.say('Password changed. Your other sessions have ended; this profile stays logged in.'));
        return;
      }
      default:
        throw new CliError(action ? `unknown action "${action}": use add, list, role, remove or passwd` : 'flexd user needs an action: add, list, role, remove or passwd');
    }
  },
};

async function askPasswords(): Promise<[string, string]> {
  if (!canPrompt()) throw new CliError('no terminal to ask on: pass --password-stdin with the current and the new password, one a line');
  const current = await askHidden('Current password: ');
  const next = await askHidden('New password: ');
  if (await askHidden('New password again: ') !== next) throw new CliError('the new passwords differ; nothing changed');
  return [current, next];
}
