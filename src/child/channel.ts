/**
 * The replica's end of its channel to flexd: fd 3, a socket pair flexd opened when it spawned
 * us, carrying JSON frames (frames.ts). Messages are serialised when they are sent; the frames
 * of one event-loop turn leave in one write, since every write wakes flexd and under load the
 * wake-up costs more than the message.
 */
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from './frames.ts';
import type { FromReplica } from './protocol.ts';

/** The fd flexd passes the channel on (spawn's stdio index 3). */
export const CHANNEL_FD = 3;

let socket: Socket | undefined;
let outbox: string[] = [];

/** True when this process was started with a channel on fd 3 (by flexd, not by hand). */
export function hasChannel(): boolean {
  try {
    return fstatSync(CHANNEL_FD).isSocket();
  } catch {
    return false;
  }
}

/**
 * Opens the channel. `onMessage` gets each decoded message (unchecked: the caller validates);
 * `onClose` runs once when flexd is gone (EOF, even after flexd was killed with -9) or its
 * bytes stopped making sense.
 */
export function openChannel(onMessage: (message: unknown) => void, onClose: (why: string) => void): void {
  const s = new Socket({ fd: CHANNEL_FD, readable: true, writable: true });
  socket = s;
  const decoder = new FrameDecoder();
  let closed = false;
  const close = (why: string) => {
    if (closed) return;
    closed = true;
    onClose(why);
  };
  s.on('data', (chunk: Buffer) => {
    let messages: unknown[];
    try {
      messages = decoder.push(chunk);
    } catch (err) {
      close(`flexd's channel broke: ${(err as Error).message}`);
      return;
    }
    for (const m of messages) onMessage(m);
  });
  s.on('end', () => close('flexd closed the channel'));
  s.on('close', () => close('flexd closed the channel'));
  s.on('error', (err) => close(`flexd's channel failed: ${err.message}`));
}

/**
 * Sends one message, serialised now (a later change to its objects changes nothing).
 * @throws FrameError when it cannot be serialised or is over MAX_FRAME_BYTES; nothing was sent
 */
export function send(message: FromReplica): void {
  const frame = encodeFrame(message);
  if (outbox.push(frame) === 1) setImmediate(flush);
}

function flush(): void {
  const frames = outbox;
  outbox = [];
  const s = socket;
  if (!s || s.destroyed || !s.writable) return;
  s.write(frames.length === 1 ? frames[0] : frames.join(''));
}
