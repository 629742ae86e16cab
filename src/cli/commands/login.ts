import { str } from '../args.ts';
import { ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { DEFAULT_HOST, DEFAULT_PROFILE, normalizeHost, profilePath, readProfiles, writeProfiles } from '../profile.ts';
import { ask, askHidden, canPrompt } from '../prompt.ts';

export const login: Command = {
  name: 'login',
  summary: 'log in to a flexd and save the session as a profile',
  usage: `Usage: flexd login [--host URL] [--email EMAIL] [--password PASSWORD] [--profile NAME]

Logs in (POST /session) and saves the host, e-mail and session token in ~/.flexd/profiles.json
(readable by you only) under the profile name (default: the active profile, or "${DEFAULT_PROFILE}"),
and makes that profile the active one: later commands run as it until flexd profile use NAME.
Each login is a session of its own: logging in again does not end the session a command in
another terminal (flexd logs --follow) is using; flexd logout ends one.

  --host URL             the flexd to log in to (default: the profile's host, FLEXD_URL, or ${DEFAULT_HOST})
  --email EMAIL          (FLEXD_EMAIL; default: the profile's; asked on a terminal)
  --password PASSWORD    (FLEXD_PASSWORD; asked on a terminal without echo)`,
  options: {
    email: { type: 'string' },
    password: { type: 'string' },
  },
  async run({ args, out, env }) {
    const file = profilePath(env);
    const data = await readProfiles(file);
    const name = args.globals.profile ?? data.active ?? DEFAULT_PROFILE;
    const existing = data.profiles[name];
    const host = normalizeHost(args.globals.host ?? existing?.host ?? (env.FLEXD_URL || DEFAULT_HOST));
    const email = str(args.values.email) ?? (env.FLEXD_EMAIL || undefined) ?? existing?.email ?? await prompted('E-mail: ', false);
    const password = str(args.values.password) ?? (env.FLEXD_PASSWORD || undefined) ?? await prompted(`Password for ${email}: `, true);

    const session = await new ApiClient(host).login(email, password);
    if (!session?.token) throw new CliError(`${host} answered POST /session without a token; is it a flexd?`);
    // The profile's previous session is left to expire, not ended: another terminal may be using it
    // (a `logs --follow` reads the token once), and a new login must not cut it off (issue 16).
    const saved = { host, email: session.email ?? email, token: session.token };
    const before = data.active;
    // re-read: another terminal may have saved a profile while the password was typed
    const latest = await readProfiles(file);
    latest.profiles[name] = saved;
    latest.active = name;
    await writeProfiles(latest, file);
    const instead = before !== null && before !== name ? ` instead of ${before}` : '';
    out.result({ profile: name, active: true, host, email: saved.email }, () => {
      out.say(`Logged in to ${host} as ${saved.email} (profile ${name}, now the active profile${instead}: later commands run as it).`);
    });
  },
};

async function prompted(question: string, hidden: boolean): Promise<string> {
  if (!canPrompt()) {
    const what = hidden ? 'password: pass --password or set FLEXD_PASSWORD' : 'e-mail: pass --email or set FLEXD_EMAIL';
    throw new CliError(`no ${what} (there is no terminal to ask on)`);
  }
  const answer = hidden ? await askHidden(question) : await ask(question);
  if (answer === '') throw new CliError(hidden ? 'no password given' : 'no e-mail given');
  return answer;
}
