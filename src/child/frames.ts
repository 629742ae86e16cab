/**
 * The framing of a replica's channel (fd 3, a socket pair): each message is one frame, a 4-byte
 * big-endian length followed by that many bytes of UTF-8 JSON. Both sides use this file; flexd
 * treats every byte from a replica as hostile.
 *
 * Why not Node's own `'ipc'` channel: its JSON parser runs inside Node's channel code, where a
 * replica's one non-JSON line throws an exception flexd cannot catch (flexd exited), and a line
 * without a newline grows flexd's memory without bound. Here a frame is length-checked before it
 * is buffered and parsed in a try/catch; a replica that breaks the protocol is killed.
 */

/**
 * The largest frame either side accepts, in bytes of JSON. A task carries a body of at most
 * 25 MiB (bodyLimitBytes) and may carry parts of it twice (a functions body is also
 * `request.body`), so 64 MiB leaves room; it is also the most a replica can make flexd buffer.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const HEADER_BYTES = 4;

/** A message that cannot become a frame (not serialisable, or over the size); the message is dropped, the channel stays sound. */
export class FrameError extends Error {
  constructor(message: string, readonly reason: 'unserialisable' | 'too-large') {
    super(message);
    this.name = 'FrameError';
  }
}

/** The peer broke the framing (bad length, bad JSON): nothing it sends afterwards can be trusted. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * Serialises `message` now, so a later change to the object (a handler mutating its response
 * after completing) never changes what was sent.
 *
 * @throws FrameError when JSON.stringify fails (a cycle, a BigInt, nesting deeper than the stack)
 *   or the JSON is larger than `maxBytes`
 */
export function encodeFrame(message: unknown, maxBytes = MAX_FRAME_BYTES): Buffer {
  let json: string;
  try {
    json = JSON.stringify(message);
  } catch (err) {
    throw new FrameError(`cannot serialise the message: ${(err as Error).message}`, 'unserialisable');
  }
  if (json === undefined) throw new FrameError('cannot serialise the message: it has no JSON form', 'unserialisable');
  // Every UTF-16 unit is at least one UTF-8 byte: a string this long is over without counting.
  const bytes = json.length > maxBytes ? json.length : Buffer.byteLength(json);
  if (bytes > maxBytes) throw new FrameError(`the message is ${bytes} bytes, over the frame limit of ${maxBytes}`, 'too-large');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + bytes);
  frame.writeUInt32BE(bytes, 0);
  frame.write(json, HEADER_BYTES, 'utf8');
  return frame;
}

/**
 * Turns a byte stream back into messages. Never buffers more than one frame (at most
 * `maxBytes` plus a header); a frame that announces more, or whose bytes are not JSON, is a
 * ProtocolError, after which the decoder accepts nothing more.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private broken = false;

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Adds bytes; returns the messages they complete, in order.
   * @throws ProtocolError when the peer broke the framing
   */
  push(chunk: Buffer): unknown[] {
    if (this.broken) throw new ProtocolError('the channel is already broken');
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: unknown[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) break;
      const head = this.peekHeader();
      if (head > this.maxBytes) {
        this.fail();
        throw new ProtocolError(`a frame of ${head} bytes announced, over the limit of ${this.maxBytes}`);
      }
      if (this.buffered < HEADER_BYTES + head) break;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      const end = HEADER_BYTES + head;
      let message: unknown;
      try {
        message = JSON.parse(all.toString('utf8', HEADER_BYTES, end));
      } catch (err) {
        this.fail();
        throw new ProtocolError(`a frame that is not JSON (${(err as Error).message.slice(0, 100)})`);
      }
      messages.push(message);
      const rest = all.subarray(end);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return messages;
  }

  private peekHeader(): number {
    const first = this.chunks[0];
    if (first.length >= HEADER_BYTES) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }

  private fail(): void {
    this.broken = true;
    this.chunks = [];
    this.buffered = 0;
  }
}
