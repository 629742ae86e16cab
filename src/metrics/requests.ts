import type { Metric } from 'prom-client';

/** Request durations, in seconds: from a cached FlexFunction (~1 ms) to the default request timeout (50 s). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/**
 * One environment's data-plane answers: counts by status code and a duration histogram, in
 * plain numbers. prom-client's own children validate and hash their labels on every `inc()` and
 * `observe()`; these are written on every request, so they stay plain and are turned into
 * samples only when scraped (requestMetrics).
 */
export class RequestStats {
  readonly codes = new Map<number, number>();
  /** per bucket (not cumulative); the last one is +Inf */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  errors = 0;

  constructor(public service: string, public environment: string) {}

  record(code: number, seconds: number): void {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
    if (code >= 500) this.errors++;
  }
}

interface Sample { labels: Record<string, string | number>; value: number; metricName?: string }

/**
 * `flexd_requests_total` and `flexd_request_duration_seconds` as prom-client metrics (objects a
 * Registry renders), read from the stats of every environment seen since the start.
 */
export function requestMetrics(stats: () => Iterable<RequestStats>): Metric[] {
  const requests = {
    name: 'flexd_requests_total', help: 'Data-plane requests answered, by status code', type: 'counter', aggregator: 'sum',
    get: async () => {
      const values: Sample[] = [];
      for (const s of stats()) for (const [code, n] of s.codes) values.push({ labels: { service: s.service, environment: s.environment, code: String(code) }, value: n });
      return { name: requests.name, help: requests.help, type: 'counter', aggregator: 'sum', values };
    },
  };
  const duration = {
    name: 'flexd_request_duration_seconds', help: 'Data-plane request duration, from routing to the last byte', type: 'histogram', aggregator: 'sum',
    get: async () => {
      const values: Sample[] = [];
      for (const s of stats()) {
        if (s.count === 0) continue;
        const labels = { service: s.service, environment: s.environment };
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i]!;
          values.push({ metricName: `${duration.name}_bucket`, labels: { ...labels, le }, value: cumulative });
        });
        values.push({ metricName: `${duration.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
        values.push({ metricName: `${duration.name}_sum`, labels, value: s.sum });
        values.push({ metricName: `${duration.name}_count`, labels, value: s.count });
      }
      return { name: duration.name, help: duration.help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  return [requests, duration] as unknown as Metric[];
}
