import { ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { currentProfile, profilePath, readProfiles, writeProfiles } from '../profile.ts';

export const logout: Command = {
  name: 'logout',
  summary: 'end the session of a profile',
  usage: `Usage: flexd logout [--profile NAME]

Ends the session (DELETE /session) and forgets its token; the profile keeps its host and e-mail,
so flexd login asks only for the password.`,
  options: {},
  async run({ args, out, env }) {
    const file = profilePath(env);
    const { name, profile } = await currentProfile(args.globals.profile, file);
    // the token is forgotten even when the server cannot be told (expired already, or unreachable)
    await new ApiClient(profile.host, profile.token).logout().catch(() => {});
    const data = await readProfiles(file);
    data.profiles[name] = { ...profile, token: '' };
    await writeProfiles(data, file);
    out.result(null, () => out.say(`Logged out: ${name}`));
  },
};
