/**
 * Issue 9, finding 8: a deploy refused from its `params` used to close the connection while the
 * client was still sending the archive, and fetch() got EPIPE instead of the 4xx (3 of 5 tries).
 * flexd now reads the rest of the body (up to the upload cap) before it answers.
 *
 * What flexd read is measured on its side: the server socket's `bytesRead` when its answer
 * finished (node:diagnostics_channel's `http.server.response.finish`; the runtime runs in this
 * process), beside the client's own view (its upload stream was pulled to its end).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startApi, type Api } from '../api/helpers.ts';
import { CleanupStack } from '../helpers/cleanup.ts';
import { withDeadline } from '../helpers/wait.ts';

/** A deadline that catches a hang (an upload that is never answered); it does not time the code. */
const ANSWER_MS = 60_000;

/**
 * A multipart deploy whose archive part streams one 64 KiB chunk per turn of the event loop: the
 * runtime (in this process) reads the first fields and decides its refusal long before the archive
 * has been sent, as over a real network. No timer paces it; the event loop does.
 */
function slowUpload(params: Record<string, unknown>, archiveBytes: number, progress: { done: boolean }): ReadableStream<Uint8Array> {
  const boundary = 'flexd-test-boundary';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndeployService\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="params"\r\n\r\n${JSON.stringify(params)}\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.tar"\r\nContent-Type: application/tar\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  let sent = -1;
  const chunk = 64 * 1024;
  return new ReadableStream({
    async pull(controller) {
      if (sent === -1) { controller.enqueue(head); sent = 0; return; }
      if (sent >= archiveBytes) { controller.enqueue(tail); controller.close(); progress.done = true; return; }
      await new Promise((r) => setImmediate(r));
      controller.enqueue(randomBytes(chunk));
      sent += chunk;
    },
  });
}

/**
 * POSTs a slow multipart upload to /v4/jobs; resolves with the answer, whether the client's upload
 * stream had been pulled to its end by then, and how many bytes of the connection flexd had read
 * when its answer finished (one upload at a time: the file's tests run in order).
 */
async function upload(api: Api, label: string, params: Record<string, unknown>, archiveBytes: number, token: string | null) {
  const progress = { done: false };
  let readAtAnswer: number | undefined;
  const onFinish = (message: unknown) => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket };
    if (request.method === 'POST' && request.url === '/v4/jobs') readAtAnswer = socket.bytesRead;
  };
  subscribe('http.server.response.finish', onFinish);
  try {
    const res = await withDeadline(`the answer to ${label}`, fetch(`${api.rt.url}/v4/jobs`, {
      method: 'POST',
      headers: { ...(token === null ? {} : { Authorization: `Kinvey ${token}` }), 'Content-Type': 'multipart/form-data; boundary=flexd-test-boundary' },
      body: slowUpload(params, archiveBytes, progress),
      duplex: 'half',
    } as RequestInit), ANSWER_MS);
    // Read before `progress` is looked at: the answer came whole, after the upload had been taken.
    const body = await withDeadline(`the body of the answer to ${label}`, res.text(), ANSWER_MS);
    return { status: res.status, body, uploadRead: progress.done, readAtAnswer };
  } finally {
    unsubscribe('http.server.response.finish', onFinish);
  }
}

/** flexd had read the whole upload (head, archive, tail) of the connection when its answer finished. */
function assertReadWhole(res: { readAtAnswer?: number; uploadRead: boolean }, archiveBytes: number, label: string): void {
  assert.ok(res.readAtAnswer !== undefined && res.readAtAnswer >= archiveBytes,
    `${label}: flexd had read ${res.readAtAnswer} bytes of the connection when its answer finished, of an upload over ${archiveBytes}`);
  assert.ok(res.uploadRead, `${label}: answered before the client's upload was taken to its end`);
}

describe('early refusal: one runtime', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let api: Api;
  before(async () => { api = await startApi(suite); });

  test('early refusal: a deploy refused from its params is answered 400 once the archive after them was read to its end, and fetch() reads it, five times in a row', async () => {
    const { serviceId, environmentId } = await api.createEnvironment('early');
    for (let i = 0; i < 5; i++) {
      const res = await upload(api, `try ${i + 1}`, { serviceId, serviceEnvironmentId: environmentId }, 4 * 1024 * 1024, api.token);
      assert.equal(res.status, 400, `try ${i + 1}: ${res.body}`);
      assert.equal(JSON.parse(res.body).code, 'MissingVersion');
      // The answer came once the whole upload had been taken, not by cutting it off (EPIPE under load).
      assertReadWhole(res, 4 * 1024 * 1024, `try ${i + 1}`);
    }
  });

  test('early refusal: an upload without a token is answered 401 once the upload was read, readable by fetch()', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await upload(api, `try ${i + 1}`, { serviceId: 'x', version: '1.0.0' }, 2 * 1024 * 1024, null);
      assert.equal(res.status, 401, `try ${i + 1}: ${res.body}`);
      assertReadWhole(res, 2 * 1024 * 1024, `try ${i + 1}`);
    }
  });
});
