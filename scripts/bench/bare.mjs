// The floor of `npm run bench`: a bare Node `http` server answering the same JSON bytes the
// bench service answers, with no framework, no SDK and no task. Runs in its own process.
//
//   fork('scripts/bench/bare.mjs', [JSON.stringify({ routes: { 'POST /_flexFunctions/ping': '{"request":…}' } })])
//
// Sends { url } over IPC once listening on 127.0.0.1 (any free port); an unknown route is 404.
import { createServer } from 'node:http';

const { routes = {} } = JSON.parse(process.argv[2] ?? '{}');
const answers = new Map(Object.entries(routes).map(([key, text]) => [key, Buffer.from(text)]));

const server = createServer((req, res) => {
  // Read the body as any real server must, then answer.
  req.on('data', () => {});
  req.on('end', () => {
    const q = req.url.indexOf('?');
    const body = answers.get(`${req.method} ${q === -1 ? req.url : req.url.slice(0, q)}`);
    if (!body) {
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end('{"error":"NotFound"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  if (process.send) process.send({ url });
  else console.log(url);
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
