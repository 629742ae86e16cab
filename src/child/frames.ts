/**
 * The framing of a replica's channel (fd 3, a socket pair): each message is one frame, a line
 * of JSON ended by `\n` (JSON.stringify never writes a raw newline, and a newline byte never
 * occurs inside a UTF-8 sequence). Both sides use this file; flexd treats every byte from a
 * replica as hostile.
 *
 * Why not Node's own `'ipc'` channel: its JSON parser runs inside Node's channel code, where a
 * replica's one non-JSON line throws an exception flexd cannot catch (flexd exited), and a line
 * without a newline grows flexd's memory without bound. Here a frame is size-checked while it is
 * buffered and parsed in a try/catch; a replica that breaks the protocol is killed.
 *
 * Why lines and not a length prefix: a prefixed frame has to be sized in bytes and copied into a
 * buffer of its own on the way out, one per message; lines of one event-loop turn leave as one
 * string, encoded once. Measured on a 1.5 KB task, 40 000 round trips, CPU per message per side:
 * length-prefixed 10–12 µs, lines 6.5 µs, Node's 'ipc' 5.5 µs.
 */

import { JsonBoundsError, JsonScanner, SCAN_FROM_BYTES } from './json-bounds.ts';

/**
 * The largest frame either side accepts, in bytes of JSON. A task carries a body of at most
 * 25 MiB (bodyLimitBytes) and may carry parts of it twice (a functions body is also
 * `request.body`), so 64 MiB leaves room; it is also the most a replica can make flexd buffer.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

/** A message that cannot become a frame (not serialisable, or over the size); the message is dropped, the channel stays sound. */
export class FrameError extends Error {
  constructor(message: string, readonly reason: 'unserialisable' | 'too-large') {
    super(message);
    this.name = 'FrameError';
  }
}

/** The peer broke the framing (an overlong frame, bytes that are not JSON): nothing it sends afterwards can be trusted. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * Serialises `message` now, as one frame, so a later change to the object (a handler mutating
 * its response after completing) never changes what was sent.
 *
 * @throws FrameError when JSON.stringify fails (a cycle, a BigInt, nesting deeper than the stack)
 *   or the JSON is larger than `maxBytes`
 */
export function encodeFrame(message: unknown, maxBytes = MAX_FRAME_BYTES): string {
  let json: string;
  try {
    json = JSON.stringify(message);
  } catch (err) {
    throw new FrameError(`cannot serialise the message: ${(err as Error).message}`, 'unserialisable');
  }
  if (json === undefined) throw new FrameError('cannot serialise the message: it has no JSON form', 'unserialisable');
  // A UTF-16 unit is 1 to 3 bytes of UTF-8: count the bytes only when it can matter.
  if (json.length * 3 > maxBytes) {
    const bytes = json.length > maxBytes ? json.length : Buffer.byteLength(json);
    if (bytes > maxBytes) throw new FrameError(`the message is ${bytes} bytes, over the frame limit of ${maxBytes}`, 'too-large');
  }
  return `${json}\n`;
}

/**
 * Turns a byte stream back into messages. Never buffers more than one frame (at most
 * `maxBytes`), and never parses one that would cost more than the structure bounds of
 * json-bounds.ts (counted as the frame arrives, so an oversized one is refused before it is
 * whole); a frame over either, or one that is not JSON, is a ProtocolError, after which the
 * decoder accepts nothing more.
 */
export class FrameDecoder {
  private partial: Buffer[] = [];
  private buffered = 0;
  private broken = false;
  /** the structure of the frame being buffered, counted once it is longer than SCAN_FROM_BYTES */
  private scanner: JsonScanner | undefined;

  /**
   * @param bounded  count each frame's structure (json-bounds.ts): flexd's side, reading a
   *   replica; a replica reading flexd's tasks trusts them (flexd bounds what it sends)
   */
  constructor(private readonly maxBytes = MAX_FRAME_BYTES, private readonly bounded = false) {}

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
    const messages: unknown[] = [];
    let start = 0;
    let end = chunk.indexOf(NEWLINE);
    if (end !== -1 && this.buffered > 0) {
      // The end of the frame begun in earlier chunks.
      const length = this.buffered + end;
      const tail = chunk.subarray(0, end);
      this.partial.push(tail);
      this.buffered = length;
      this.count(tail);
      const whole = Buffer.concat(this.partial, length);
      this.partial = [];
      this.buffered = 0;
      this.scanner = undefined;
      messages.push(this.parse(whole, 0, length, true));
      start = end + 1;
      end = chunk.indexOf(NEWLINE, start);
    }
    while (end !== -1) {
      messages.push(this.parse(chunk, start, end, false));
      start = end + 1;
      end = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      const piece = start === 0 ? chunk : chunk.subarray(start);
      this.buffered += piece.length;
      if (this.buffered > this.maxBytes) this.fail(`a frame of more than ${this.maxBytes} bytes`);
      this.partial.push(piece);
      this.count(piece);
    }
    return messages;
  }

  /** Counts the structure of `piece`, just added to the frame being buffered, once the frame is long enough to matter. */
  private count(piece: Buffer): void {
    if (!this.bounded) return;
    // Every message is a JSON object: a frame that starts otherwise is refused at its first byte.
    if (this.buffered === piece.length && piece.length > 0 && piece[0] !== OPEN_BRACE) this.fail('a frame that is not a JSON object');
    if (this.scanner === undefined) {
      if (this.buffered < SCAN_FROM_BYTES) return;
      this.scanner = new JsonScanner();
      for (const earlier of this.partial) this.scan(earlier, 0, earlier.length); // piece is the last of them
      return;
    }
    this.scan(piece, 0, piece.length);
  }

  private scan(bytes: Buffer, start: number, end: number, scanner = this.scanner ?? new JsonScanner()): void {
    try {
      scanner.feed(bytes, start, end);
    } catch (err) {
      if (err instanceof JsonBoundsError) this.fail(`a frame of ${err.what}`);
      throw err;
    }
  }

  private parse(bytes: Buffer, start: number, end: number, scanned: boolean): unknown {
    if (end - start > this.maxBytes) this.fail(`a frame of ${end - start} bytes, over the limit of ${this.maxBytes}`);
    if (this.bounded && !scanned && end - start >= SCAN_FROM_BYTES) this.scan(bytes, start, end, new JsonScanner());
    try {
      return JSON.parse(bytes.toString('utf8', start, end));
    } catch (err) {
      return this.fail(`a frame that is not JSON (${(err as Error).message.slice(0, 100)})`);
    }
  }

  private fail(what: string): never {
    this.broken = true;
    this.partial = [];
    this.buffered = 0;
    this.scanner = undefined;
    throw new ProtocolError(what);
  }
}
