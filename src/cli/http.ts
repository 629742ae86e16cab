import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** An answer's headers, read as `fetch`'s `Headers` are: case-insensitive, `null` when absent. */
export interface AnswerHeaders {
  get(name: string): string | null;
}

/** One HTTP answer, its body read whole as UTF-8 text. */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: AnswerHeaders;
  text: string;
}

export interface HttpExchange {
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** the whole exchange, the answer's body included */
  timeoutMs: number;
}

/**
 * One request and its whole answer over node:http or node:https, for the CLI's API calls
 * (client.ts). Not `fetch`: Node loads fetch's implementation (undici) on the first call, which
 * costs a command about 0.1 s of CPU, as much as the rest of a `flexd versions` together.
 * Redirects are answers like any other (flexd's API sends none).
 *
 * Fails with Node's own errors (`code`: ECONNREFUSED, ENOTFOUND, ECONNRESET, a TLS code…), or an
 * error named `TimeoutError` once `timeoutMs` has passed.
 */
export function exchange(url: URL, o: HttpExchange): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = { ...o.headers };
    if (o.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(o.body));
    let timedOut: Error | undefined;
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(timedOut ?? err);
    };
    let answered = false;
    const req = send(url, { method: o.method, headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error('the connection closed before the whole answer came'), { code: 'ECONNRESET' }));
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: answerHeaders(res.headers),
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    const timer = setTimeout(() => {
      timedOut = Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { name: 'TimeoutError' });
      req.destroy(timedOut);
    }, o.timeoutMs);
    // A server may answer before it has read the whole body (413 while a deploy uploads) and close:
    // the write's EPIPE is no failure then, the answer is what counts (its stream reports its own end).
    req.on('error', (err) => { if (!answered) fail(err); });
    req.end(o.body);
  });
}

function answerHeaders(headers: IncomingHttpHeaders): AnswerHeaders {
  return {
    get(name) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}
