/**
 * `fetch` with a deadline, for tests that call a runtime over plain HTTP: an answer (or a body)
 * that never comes fails after `ms`, naming the request, instead of holding the test until the
 * suite's own timeout.
 *
 *   const res = await fetchWithin(`${rt.url}/ui/login`, { method: 'POST', body });
 *   const page = await res.text();          // the body's read is under the same deadline
 */

/** A call a runtime answers at once, on a loaded machine: it catches a hang, it does not time the code. */
export const CALL_DEADLINE_MS = 30_000;

export async function fetchWithin(url: string, init: RequestInit = {}, ms = CALL_DEADLINE_MS): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(ms), ...init });
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${url}: ${(err as Error).message}`, { cause: err });
  }
}
