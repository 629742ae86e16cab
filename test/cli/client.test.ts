/**
 * The CLI's HTTP transport (src/cli/http.ts, through ApiClient) where the network or the server
 * misbehaves, which a real flexd does not do on demand: a server that never answers, one that
 * drops the connection, one that answers an upload before reading it. A plain node:http server on
 * port 0 plays that peer; what flexd's API answers is covered by the CLI's end-to-end tests.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ApiClient } from '../../src/cli/client.ts';

async function peer(t: { after(fn: () => unknown): void }, handle: (req: IncomingMessage, res: ServerResponse, nth: number) => void): Promise<string> {
  let n = 0;
  const server: Server = createServer((req, res) => handle(req, res, ++n));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('client: an answer gives its JSON, its Date and its headers (any case); an API error its code and description', async (t) => {
  const host = await peer(t, (req, res) => {
    if (req.url === '/v4/users') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Flexd-Job': 'job-1', Date: 'Mon, 07 Dec 2026 10:00:00 GMT' });
      res.end(JSON.stringify([{ id: 'u1', email: 'é@example.com', role: 'admin', createdAt: 'now' }]));
    } else {
      assert.equal(req.headers.authorization, 'Kinvey tok');
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 'ServiceNotFound', description: 'The service was not found.', debug: '' }));
    }
  });
  const api = new ApiClient(host, 'tok');
  assert.deepEqual(await api.users(), [{ id: 'u1', email: 'é@example.com', role: 'admin', createdAt: 'now' }]);
  assert.equal(api.lastHeaders?.get('X-FLEXD-JOB'), 'job-1');
  assert.equal(api.lastHeaders?.get('x-absent'), null);
  assert.equal(api.lastServerDate?.toISOString(), '2026-12-07T10:00:00.000Z');
  await assert.rejects(api.service('nope'), { name: 'CliError', message: 'The service was not found.', code: 'ServiceNotFound' });
});

test('client: no answer within the timeout, or no server, is one line naming the host', async (t) => {
  const host = await peer(t, () => { /* never answers */ });
  const api = new ApiClient(host, 'tok');
  await assert.rejects(api.request('GET', '/v4/users', { timeoutMs: 300 }), { message: `${host} did not answer GET /v4/users within 0.3 s` });
  await assert.rejects(new ApiClient('http://127.0.0.1:1').users(), { message: 'cannot connect to http://127.0.0.1:1: connection refused (is flexd serve running there?)' });
});

test('client: a GET whose connection drops is sent once more; a POST is not', async (t) => {
  const host = await peer(t, (req, res, nth) => {
    if (nth === 1 || req.method === 'POST') {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
  });
  const api = new ApiClient(host, 'tok');
  assert.deepEqual(await api.users(), []);
  await assert.rejects(api.createUser({ email: 'a@example.com', role: 'user' }), (err: Error) => err.message.startsWith(`cannot reach ${host}: `) && /ECONNRESET/.test(err.message));
});

test('client: an upload the server refuses before reading it all gets the server\'s answer, not the broken write', async (t) => {
  const host = await peer(t, (req, res) => {
    req.once('data', () => {
      res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end(JSON.stringify({ code: 'ArchiveTooLarge', description: 'The archive is over the limit of 1024 bytes.', debug: '' }), () => req.socket.destroy());
    });
  });
  const api = new ApiClient(host, 'tok');
  await assert.rejects(api.deploy({ serviceId: 's' }, Buffer.alloc(20 << 20)), { message: 'The archive is over the limit of 1024 bytes.', code: 'ArchiveTooLarge' });
});
