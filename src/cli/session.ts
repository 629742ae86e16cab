import type { GlobalValues } from './args.ts';
import { ApiClient } from './client.ts';
import { currentProfile, normalizeHost } from './profile.ts';

/** An API client for the command's profile (--profile or the active one), on --host when given. */
export async function connect(globals: GlobalValues): Promise<ApiClient> {
  const { profile } = await currentProfile(globals.profile);
  return new ApiClient(globals.host ? normalizeHost(globals.host) : profile.host, profile.token);
}
