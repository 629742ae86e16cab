/**
 * The channel's framing (src/child/frames.ts): whatever bytes arrive, the decoder either yields
 * messages or throws a ProtocolError — it never buffers more than one frame.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, FrameDecoder, FrameError, ProtocolError } from '../../src/child/frames.ts';

test('frames: messages survive being split at every byte and joined in one chunk', () => {
  const messages = [{ t: 'ready' }, { t: 'result', id: 7, task: { body: 'ünïcødé ✓ line\nbreak', n: [1, 2, 3] } }, { t: 'pong', id: 8, rss: 1 }];
  const bytes = Buffer.from(messages.map((m) => encodeFrame(m)).join(''));
  assert.deepEqual(new FrameDecoder().push(bytes), messages);
  const decoder = new FrameDecoder();
  const got: unknown[] = [];
  for (let i = 0; i < bytes.length; i++) got.push(...decoder.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(got, messages);
  assert.equal(decoder.pending, 0);
});

test('frames: bytes without a frame end past the maximum are refused, and nothing more is taken', () => {
  const decoder = new FrameDecoder(1024);
  decoder.push(Buffer.alloc(1000, 0x61));
  assert.throws(() => decoder.push(Buffer.alloc(100, 0x61)), ProtocolError);
  assert.equal(decoder.pending, 0);
  assert.throws(() => decoder.push(Buffer.from(encodeFrame({ t: 'ready' }))), /already broken/);
  assert.throws(() => new FrameDecoder(1024).push(Buffer.from(`${JSON.stringify({ s: 'x'.repeat(2000) })}\n`)), ProtocolError);
});

test('frames: bytes that are not JSON are a protocol error, never an exception of another kind', () => {
  assert.throws(() => new FrameDecoder().push(Buffer.from('not json\n')), ProtocolError);
  assert.throws(() => new FrameDecoder().push(Buffer.from('{"t":\n')), ProtocolError);
  assert.throws(() => new FrameDecoder().push(Buffer.from([0xff, 0xfe, 0x0a])), ProtocolError);
});

test('frames: a message nested too deeply, circular, or over the size is refused at encoding', () => {
  const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  assert.throws(() => encodeFrame(deep), (err: unknown) => err instanceof FrameError && err.reason === 'unserialisable');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.throws(() => encodeFrame(circular), (err: unknown) => err instanceof FrameError && err.reason === 'unserialisable');
  assert.throws(() => encodeFrame({ s: 'x'.repeat(2000) }, 1024), (err: unknown) => err instanceof FrameError && err.reason === 'too-large');
  assert.throws(() => encodeFrame({ s: 'é'.repeat(600) }, 1024), (err: unknown) => err instanceof FrameError && err.reason === 'too-large');
  assert.doesNotThrow(() => encodeFrame({ s: 'x'.repeat(900) }, 1024));
});

test('frames: an encoded message is a snapshot; changing the object afterwards changes nothing', () => {
  const message = { t: 'result', id: 1, task: { n: 1 } };
  const frame = encodeFrame(message);
  message.task.n = 2;
  assert.deepEqual(new FrameDecoder().push(Buffer.from(frame)), [{ t: 'result', id: 1, task: { n: 1 } }]);
});
