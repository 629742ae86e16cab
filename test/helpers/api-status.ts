/**
 * Waiting on an environment's status (`GET /v4/services/:id/environments/:env/status`) over plain
 * HTTP, for tests that then read it through a CLI: a CLI call is a Node process of its own (about
 * half a second of CPU), so polling through one for the length of a deploy costs more than the
 * rest of the test. The test waits here first, then asks the CLI, whose answer it checks as before:
 *
 *   await untilStatus({ url: rt.url, ...ADMIN }, serviceId, environmentId, (s) => s.status === 'ONLINE', 240_000);
 *   const online = await waitForStatusThroughCli(...);   // usually its first call
 *
 * `kinvey flex status --output json` prints this body as its result (with serviceId and svcEnvId
 * added), so the same predicate reads both.
 */
import { waitFor } from './wait.ts';

export interface ApiLogin {
  url: string;
  email: string;
  password: string;
}

/** Resolves with the status body once `predicate` holds for it; rejects with the last one at the deadline. */
export async function untilStatus(login: ApiLogin, serviceId: string, environmentId: string, predicate: (status: any) => boolean, timeoutMs: number): Promise<any> {
  const session = await fetch(`${login.url}/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: login.email, password: login.password }),
  });
  if (session.status !== 200) throw new Error(`login to ${login.url}: ${session.status} ${await session.text()}`);
  const { token } = await session.json() as { token: string };
  let last: unknown;
  try {
    return await waitFor('the status to hold', async () => {
      const res = await fetch(`${login.url}/v4/services/${serviceId}/environments/${environmentId}/status`, { headers: { Authorization: `Kinvey ${token}` } });
      last = await res.json();
      return res.status === 200 && predicate(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 250 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`, { cause: err });
  }
}
