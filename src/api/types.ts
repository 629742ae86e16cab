import type { UserRow } from '../store/accounts.ts';

/** What routes of the management API find on the context: the user the auth middleware resolved. */
export interface ApiEnv {
  Variables: { user: UserRow };
}
