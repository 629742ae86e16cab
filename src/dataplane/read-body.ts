import type { IncomingMessage } from 'node:http';
import { FlexdError } from '../errors.ts';

/**
 * Reads a request body up to `limitBytes`. A declared Content-Length over the limit is refused
 * before a byte is read; a chunked body is refused as soon as it passes the limit, so an
 * oversized body is never buffered whole (RELIABILITY B1).
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    return Promise.reject(tooLarge(limitBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

function tooLarge(limitBytes: number): FlexdError {
  return new FlexdError('RequestEntityTooLarge', `The request body is larger than the limit of ${limitBytes} bytes.`, { status: 413 });
}
