/**
 * An npm registry in front of the real one that hides some versions of one package, so a test
 * can play "the registry published a new release" between two builds:
 *
 *   const registry = await filteringRegistry(cleanup, 'kinvey-flex-sdk', ['3.3.0']);
 *   // npm_config_registry=registry.url … then later:
 *   registry.hide([]);
 *
 * Every other request (packuments, tarballs) is passed to the upstream registry as it is. The
 * filtered packument is sent with `cache-control: no-store`, so npm never answers from its cache.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CleanupContext } from './cleanup.ts';

const UPSTREAM = 'https://registry.npmjs.org';

export interface FilteringRegistry {
  url: string;
  hide(versions: string[]): void;
}

export async function filteringRegistry(t: CleanupContext, name: string, hidden: string[]): Promise<FilteringRegistry> {
  let hide = new Set(hidden);
  const server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      const upstream = await fetch(`${UPSTREAM}${path}`, { headers: { accept: req.headers.accept ?? 'application/json' } });
      const body = Buffer.from(await upstream.arrayBuffer());
      const headers: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' };
      if (decodeURIComponent(path.split('?')[0]!) === `/${name}` && upstream.ok) {
        const doc = JSON.parse(body.toString('utf8')) as { versions: Record<string, unknown>; time?: Record<string, string>; 'dist-tags': Record<string, string> };
        for (const version of hide) {
          delete doc.versions[version];
          delete doc.time?.[version];
        }
        for (const [tag, version] of Object.entries(doc['dist-tags'])) if (hide.has(version)) delete doc['dist-tags'][tag];
        doc['dist-tags'].latest ??= Object.keys(doc.versions).at(-1)!;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(doc));
        return;
      }
      res.writeHead(upstream.status, headers);
      res.end(body);
    })().catch((err: Error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(err.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, hide: (versions) => { hide = new Set(versions); } };
}
