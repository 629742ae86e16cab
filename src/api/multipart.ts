import type busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { FlexdError } from '../errors.ts';
import { loadLater } from '../load-later.ts';

/** busboy is loaded by the first upload, not by the management API's start. */
const loadBusboy = loadLater<typeof busboy>('busboy');

/** Form fields of an upload (`type`, `params`): params carries the variables, well under this */
const MAX_FIELD_BYTES = 1024 * 1024;
/** kinvey-cli sends three parts: type, params, file */
const MAX_PARTS = 10;

export interface Upload {
  fields: Map<string, string>;
  /** the one file part, whole */
  file: Buffer | undefined;
}

export interface UploadOptions {
  /** the file part is refused with 413 `ArchiveTooLarge` once it passes this, while it streams */
  maxFileBytes: number;
  /**
   * Called with the fields sent before the file part (kinvey-cli sends `type` and `params`
   * first): throwing (or rejecting) refuses the upload before its file is read; the file waits
   * until the check has passed.
   */
  beforeFile(fields: Map<string, string>): void | Promise<void>;
}

/**
 * Reads a `multipart/form-data` upload (chunked or not) with busboy. Rejects with a FlexdError
 * as soon as something is wrong; the rest of the request body is then left to the HTTP layer
 * (@hono/node-server drains a bounded amount after the answer, then closes the socket).
 *
 * @example const { fields, file } = await readUpload(source, contentType, { maxFileBytes: 10 << 20, beforeFile: check });
 */
export function readUpload(source: Readable, contentType: string, options: UploadOptions): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    const chunks: Buffer[] = [];
    let sawFile = false;
    let settled = false;
    /** the check of the fields before the file: the upload resolves only once it has passed */
    let checked: Promise<void> = Promise.resolve();
    let parser: busboy.Busboy;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      source.unpipe(parser);
      parser.removeAllListeners();
      parser.on('error', () => {});
      reject(err);
    };
    try {
      parser = loadBusboy()({
        headers: { 'content-type': contentType },
        limits: { fileSize: options.maxFileBytes, files: 1, fieldSize: MAX_FIELD_BYTES, parts: MAX_PARTS },
      });
    } catch (err) {
      reject(malformed((err as Error).message));
      return;
    }
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new FlexdError('RequestTooLarge', `The form field "${name}" is over ${MAX_FIELD_BYTES} bytes.`, { status: 413 }));
      else fields.set(name, value);
    });
    parser.on('file', (name, stream) => {
      if (settled) return void stream.resume();
      if (name !== 'file') {
        stream.resume();
        return fail(malformed(`Unexpected file part "${name}"; the archive goes in the part named "file".`));
      }
      sawFile = true;
      stream.pause();
      checked = (async () => options.beforeFile(fields))();
      checked.then(() => {
        if (settled) return void stream.resume();
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('limit', () => fail(new FlexdError('ArchiveTooLarge',
          `The archive is over the limit of ${options.maxFileBytes} bytes.`, { status: 413 })));
        stream.resume(); // paused explicitly above: a 'data' listener alone does not restart it
      }, (err: unknown) => {
        stream.resume();
        fail(err);
      });
    });
    parser.on('filesLimit', () => fail(malformed('Send one file part only.')));
    parser.on('partsLimit', () => fail(malformed(`Send at most ${MAX_PARTS} parts.`)));
    parser.on('error', (err: Error) => fail(malformed(err.message)));
    parser.on('close', () => {
      void checked.then(() => {
        if (settled) return;
        settled = true;
        resolve({ fields, file: sawFile ? Buffer.concat(chunks) : undefined });
      }, () => { /* failed: fail() answered */ });
    });
    source.on('error', (err) => fail(malformed(`The upload broke off: ${err.message}`)));
    source.pipe(parser);
  });
}

/** The request body as a Node stream: the raw IncomingMessage under @hono/node-server, else the fetch body. */
export function bodyStream(request: Request, incoming: IncomingMessage | undefined): Readable {
  if (incoming) return incoming;
  return request.body ? Readable.fromWeb(request.body as import('node:stream/web').ReadableStream) : Readable.from([]);
}

const malformed = (debug: string) => new FlexdError('BadRequest', 'The upload is not a valid multipart/form-data body.', { status: 400, debug });
