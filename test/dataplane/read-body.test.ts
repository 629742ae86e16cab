/**
 * readBody (src/dataplane/read-body.ts) on Node's own HTTP server: a request without a body is
 * answered without a read, and one whose body came in the same packet as its headers (so the
 * request is already complete when the data plane looks) still has its body read whole.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { readBody } from '../../src/dataplane/read-body.ts';

let server: Server;
let port: number;

before(async () => {
  server = createServer(async (req, res) => {
    // As the data plane does: the environment is resolved before the body is read (which may
    // wait for a refresh of the directory: a turn of the event loop, by which a body that came
    // with the headers is all buffered and the request complete).
    await new Promise((resolve) => setImmediate(resolve));
    const complete = req.complete;
    const body = await readBody(req, 1024);
    res.end(JSON.stringify({ complete, body: body.toString('utf8') }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends `head` and `body` in the writes given (one write: one packet on loopback) and returns the answer's JSON. */
function send(writes: string[]): Promise<{ complete: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => { text += chunk.toString('utf8'); });
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)));
      } catch (err) {
        reject(new Error(`${(err as Error).message}: ${text}`));
      }
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const [i, w] of writes.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 20));
        socket.write(w);
      }
    });
  });
}

const head = (length?: number) => `POST /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${length === undefined ? '' : `Content-Length: ${length}\r\n`}\r\n`;

test('readBody: a body in the same packet as the headers is read whole, though the request is already complete', async () => {
  const body = '{"in":"one packet"}';
  const answer = await send([head(body.length) + body]);
  assert.equal(answer.complete, true, 'the case this test is about: complete before the read');
  assert.equal(answer.body, body);
});

test('readBody: a request without a body reads as empty; a body sent after the headers is read whole', async () => {
  assert.deepEqual(await send([head()]), { complete: true, body: '' });
  assert.deepEqual(await send([head(0)]), { complete: true, body: '' });
  const later = await send([head(5), 'hello']);
  assert.equal(later.body, 'hello');
});
