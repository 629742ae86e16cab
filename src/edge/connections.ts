import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { overloaded } from './budget.ts';

/**
 * A cap on open connections (issue 9, finding 3). Past `max`, a connection's request is
 * answered 503 with Retry-After and the connection closed — the answer costs flexd less than
 * the connection does; past `max` + 10 % Node drops new connections when they are accepted.
 *
 *   const cap = capConnections(server, 1000);
 *   if (cap.over(req, res)) return; // answered
 */
export function capConnections(server: Server, max: number): { readonly open: number; over(req: IncomingMessage, res: ServerResponse): boolean } {
  let open = 0;
  server.maxConnections = max + Math.max(1, Math.ceil(max / 10));
  server.on('connection', (socket) => {
    open++;
    socket.once('close', () => { open--; });
  });
  return {
    get open() { return open; },
    over(req, res) {
      if (open <= max) return false;
      const err = overloaded('connections');
      const text = JSON.stringify({ error: err.code, description: err.message });
      res.writeHead(503, {
        'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text),
        'Retry-After': String(err.retryAfterSeconds), Connection: 'close',
      });
      res.end(text);
      req.resume();
      return true;
    },
  };
}
