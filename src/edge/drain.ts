import type { IncomingMessage } from 'node:http';

/**
 * An early answer (a refusal written before the request body was read) must be readable by a
 * client that sends its whole body before it reads (fetch(), kinvey-cli): closing the socket
 * under it gives it EPIPE instead of the answer (issue 9, finding 8). These read the rest of
 * the body and throw it away — nothing is buffered — up to a byte cap.
 */

/**
 * Reads and discards the rest of `req` before the answer is written. Resolves true when the body
 * ended, false when it passed `limitBytes` or did not end within `timeoutMs` (the caller
 * answers anyway and the connection is closed).
 */
export function discardBody(req: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<boolean> {
  if (req.complete || req.readableEnded || req.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limitBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onError = () => finish(false);
    const onClose = () => finish(req.complete);
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
    req.resume();
  });
}

/**
 * After an answer written before the body was read: Node reads and discards the rest of the
 * body to keep the connection alive; this caps how much. Past `limitBytes` the socket is closed.
 * (How long is Node's requestTimeout: flexd's `bodyTimeoutMs`.)
 */
export function capDiscardedBody(req: IncomingMessage, limitBytes: number): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limitBytes) req.socket.destroy();
  });
  req.resume();
}

/**
 * discardBody for a body that a web stream has taken over (hono reads the request through
 * `Readable.toWeb`, which pauses the request whenever nobody pulls): pulls the stream to its end
 * and drops the bytes. Resolves as discardBody does.
 */
export async function discardWebBody(body: ReadableStream<Uint8Array>, limitBytes: number, timeoutMs: number): Promise<boolean> {
  const reader = body.getReader();
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs); timer.unref(); });
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === 'late') return false;
      if (next.done) return true;
      seen += next.value.byteLength;
      if (seen > limitBytes) return false;
    }
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}
