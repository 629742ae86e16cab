import { ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { profilePath, readProfiles, writeProfiles, type ProfileFile } from '../profile.ts';

/**
 * `flexd profile list|use|show|delete`: the saved logins of ~/.flexd/profiles.json, as
 * kinvey-cli's `profile` commands manage ~/.kinvey-cli. Only `delete` talks to flexd (it ends the
 * profile's session); the others read and write the file.
 */
export const profile: Command = {
  name: 'profile',
  summary: 'list the saved logins, switch the active one, show or delete one',
  usage: `Usage: flexd profile list
       flexd profile use NAME
       flexd profile show [NAME]
       flexd profile delete NAME

Profiles are the logins flexd login saved in ~/.flexd/profiles.json: a host, an e-mail and a
session token each. Commands run as the active profile unless given --profile NAME (or
FLEXD_PROFILE). flexd login --profile NAME saves a login under NAME and makes it the active one.

  list                   every profile: name, host, e-mail, logged in or out, * the active one
  use NAME               make NAME the active profile
  show [NAME]            one profile (default: the active one), without its token
  delete NAME            end the profile's session and forget the profile`,
  options: {},
  async run({ args, out, env }) {
    const [action, ...rest] = args.positionals;
    const file = profilePath(env);
    const data = await readProfiles(file);
    const name = (what: string, fallback?: string | null) => {
      if (rest.length > 1) throw new CliError(`flexd profile ${action} takes one profile name`);
      const chosen = rest[0] ?? fallback ?? undefined;
      if (!chosen) throw new CliError(`flexd profile ${action} needs ${what}`);
      if (!data.profiles[chosen]) throw new CliError(`no profile "${chosen}"${known(data)}`);
      return chosen;
    };
    switch (action) {
      case 'list':
      case undefined: {
        if (rest.length > 0) throw new CliError('flexd profile list takes no arguments');
        const rows = Object.entries(data.profiles).map(([n, p]) => ({
          active: n === data.active ? '*' : '', profile: n, host: p.host, email: p.email, session: p.token ? 'logged in' : 'logged out',
        }));
        out.result(rows.map(({ active, ...r }) => ({ ...r, active: active === '*' })), () => {
          if (rows.length === 0) out.say('No profiles yet: flexd login saves one.');
          else out.list(rows, ['active', 'profile', 'host', 'email', 'session']);
        });
        return;
      }
      case 'use': {
        const chosen = name('a profile name');
        data.active = chosen;
        await writeProfiles(data, file);
        out.result({ profile: chosen }, () => out.say(`Active profile: ${chosen} (${data.profiles[chosen].email} on ${data.profiles[chosen].host})`));
        return;
      }
      case 'show': {
        const chosen = name('a profile name (there is no active profile)', args.globals.profile ?? data.active);
        const p = data.profiles[chosen];
        const view = { profile: chosen, active: chosen === data.active, host: p.host, email: p.email, session: p.token ? 'logged in' : 'logged out' };
        out.result(view, () => out.object(view));
        return;
      }
      case 'delete': {
        const chosen = name('the name of the profile to delete');
        const p = data.profiles[chosen];
        // the session ends even if the server cannot be told: the token is forgotten either way
        if (p.token) await new ApiClient(p.host, p.token).logout().catch(() => {});
        delete data.profiles[chosen];
        if (data.active === chosen) data.active = null;
        await writeProfiles(data, file);
        out.result({ profile: chosen }, () => out.say(`Deleted profile: ${chosen}${data.active === null ? ' (no profile is active now: flexd profile use NAME)' : ''}`));
        return;
      }
      default:
        throw new CliError(`flexd profile ${action}: unknown action; use list, use, show or delete`);
    }
  },
};

function known(data: ProfileFile): string {
  const names = Object.keys(data.profiles);
  return names.length === 0 ? ' (there are none yet: flexd login saves one)' : ` (profiles: ${names.join(', ')})`;
}
