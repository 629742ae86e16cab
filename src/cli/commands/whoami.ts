import type { Command } from '../command.ts';
import { currentProfile, normalizeHost, profilePath } from '../profile.ts';
import { ApiClient } from '../client.ts';

/** `flexd whoami`: which account, on which flexd, through which profile; asks the server, so an expired session says so. */
export const whoami: Command = {
  name: 'whoami',
  summary: 'show the account, flexd and profile commands run as',
  usage: `Usage: flexd whoami [--profile NAME]

Prints the e-mail and role of the account the profile's session belongs to (asked of the
server: GET /v4/user), the flexd's URL and the profile's name. Fails when the session has
ended (flexd login starts a new one).`,
  options: {},
  async run({ args, out, env }) {
    const { name, profile } = await currentProfile(args.globals.profile, profilePath(env));
    const host = args.globals.host ? normalizeHost(args.globals.host) : profile.host;
    const me = await new ApiClient(host, profile.token).me();
    const view = { email: me.email, role: me.role, host, profile: name };
    out.result(view, () => out.say(`${me.email} (${me.role}) on ${host}, profile ${name}`));
  },
};
