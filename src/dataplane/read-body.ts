import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { overloaded, type BodyLease } from '../edge/budget.ts';
import { FlexdError } from '../errors.ts';

/**
 * Reads a request body up to `limitBytes`. A declared Content-Length over the limit is refused
 * before a byte is read; a chunked body is refused as soon as it passes the limit, so an
 * oversized body is never buffered whole (RELIABILITY B1). Like body-parser, a gzip or deflate
 * Content-Encoding is inflated, and the limit applies to the inflated bytes. With a `lease`, every
 * byte held counts against flexd's budget for all bodies at once; past it the body is refused
 * with 503 (the caller releases the lease when the request ends).
 */
export function readBody(req: IncomingMessage, limitBytes: number, lease?: BodyLease): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    return Promise.reject(tooLarge(limitBytes));
  }
  // A request without a body (a GET, most of the time) has been read whole by the time the data
  // plane gets here: answered without the listeners and buffers of a read.
  if (req.complete && req.readableLength === 0 && req.headers['content-encoding'] === undefined) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let source: Readable = req;
  if (encoding === 'gzip') source = req.pipe(createGunzip());
  else if (encoding === 'deflate') source = req.pipe(createInflate());
  else if (encoding !== 'identity') {
    req.resume();
    return Promise.reject(new FlexdError('UnsupportedMediaType', `Unsupported content encoding "${encoding}".`, { status: 415 }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const refuse = (err: FlexdError) => {
      source.removeAllListeners('data');
      if (source !== req) source.destroy();
      req.resume();
      reject(err);
    };
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) return refuse(tooLarge(limitBytes));
      if (lease && !lease.take(chunk.length)) return refuse(overloaded('request bodies'));
      chunks.push(chunk);
    });
    source.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    source.once('error', (err) => reject(new FlexdError('BadRequest', 'The request body could not be read.', { status: 400, debug: err.message })));
  });
}

const EMPTY = Buffer.alloc(0);

function tooLarge(limitBytes: number): FlexdError {
  return new FlexdError('RequestEntityTooLarge', `The request body is larger than the limit of ${limitBytes} bytes.`, { status: 413 });
}
