/**
 * The requests `npm run bench` sends, with the context headers the hosted runtime sends on
 * every call (the SDK's receiver parses each of them, so they are part of the work measured).
 */
import type { LoadRequest } from './lib.ts';

export const SECRET = 'bench-secret';

const APP_METADATA = {
  _id: 'kid_bench', applicationId: 'app-bench', appsecret: 'app-secret', mastersecret: 'master-secret',
  baasUrl: 'https://baas.example.invalid',
};
const ORIGINAL_HEADERS = {
  authorization: `Basic ${Buffer.from('kid_bench:app-secret').toString('base64')}`,
  'x-kinvey-client-app-version': '1.0.0', host: 'baas.example.invalid', 'x-forwarded-proto': 'https',
};

export const CONTEXT_HEADERS: Record<string, string> = {
  'X-Auth-Key': SECRET,
  'X-Kinvey-App-Metadata': JSON.stringify(APP_METADATA),
  'X-Kinvey-Original-Request-Headers': JSON.stringify(ORIGINAL_HEADERS),
  'X-Kinvey-Username': 'bench',
  'X-Kinvey-User-Id': 'user-bench',
  'X-Kinvey-Environment-Id': 'kid_bench',
};

export const PING: LoadRequest = {
  method: 'POST', path: '/_flexFunctions/ping',
  headers: { ...CONTEXT_HEADERS, 'Content-Type': 'application/json' },
  body: JSON.stringify({ hello: 'world' }),
};

export const ITEMS: LoadRequest = { method: 'GET', path: '/items', headers: { ...CONTEXT_HEADERS } };

export const KINDS = { ping: PING, items: ITEMS } as const;
export type Kind = keyof typeof KINDS;
export const KIND_LABEL: Record<Kind, string> = {
  ping: 'FlexFunction `POST /_flexFunctions/ping`',
  items: 'FlexData `GET /items`',
};

export function logRequest(n: number, tag: string): LoadRequest {
  return {
    method: 'POST', path: '/_flexFunctions/log',
    headers: { ...CONTEXT_HEADERS, 'Content-Type': 'application/json' },
    body: JSON.stringify({ n, tag }),
  };
}
