// The load generator of `npm run bench`: one autocannon run in its own process, so the
// generator never shares an event loop (or a V8 heap) with the server it measures.
//
//   fork('scripts/bench/load.mjs', [JSON.stringify({ url, connections, seconds, method, headers, body, timeline })])
//   child.send('stop')   // ends the run early; the summary still comes
//
// Replies once over IPC (or prints to stdout without IPC) with:
//   { requests, seconds, rps, p50, p99, max, non2xx, errors, timeouts, statusCodes,
//     timeline?: [[doneAtEpochMs, latencyMs, status], …] }   (status 0 = connection error / timeout)
// Latency percentiles come from every response (2xx or not), in ms with sub-ms precision:
// autocannon's own histogram keeps only 2xx latencies.
import autocannon from 'autocannon';

const config = JSON.parse(process.argv[2] ?? '{}');
if (!config.url) {
  console.error('usage: node load.mjs \'{"url":"http://127.0.0.1:8080/…","connections":50,"seconds":5}\'');
  process.exit(2);
}

const latencies = [];
const timeline = config.timeline ? [] : undefined;
const statusCodes = {};
let first = 0;
let last = 0;

const instance = autocannon({
  url: config.url,
  connections: config.connections ?? 50,
  duration: config.seconds ?? 5,
  amount: config.amount,
  method: config.method ?? 'GET',
  headers: config.headers ?? {},
  body: config.body,
  timeout: config.timeoutSeconds ?? 30,
});

// The orchestrator may end a run early (a swap measured for exactly as long as it lasts).
process.on('message', (m) => { if (m === 'stop') instance.stop(); });

instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  const now = Date.now();
  if (first === 0) first = now;
  last = now;
  latencies.push(responseTime);
  statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
  timeline?.push([now, Math.round(responseTime * 100) / 100, statusCode]);
});
instance.on('reqError', () => {
  timeline?.push([Date.now(), 0, 0]);
});

instance.on('done', (result) => {
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
  const seconds = result.duration;
  const summary = {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: latencies[latencies.length - 1] ?? NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    firstResponseAt: first,
    lastResponseAt: last,
    timeline,
  };
  if (process.send) process.send(summary, () => process.exit(0));
  else {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exit(0);
  }
});
