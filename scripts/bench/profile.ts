/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and says where the time went: the functions with
 * the most self time, self time grouped into the pieces of flexd's request path, and the
 * inclusive time of named functions (a sample counts once for a function anywhere in its stack).
 *
 *   npx tsx scripts/bench/profile.ts bench-results/profile/flexd-*.cpuprofile
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface Cost { name: string; ms: number; share: number }
export interface ProfileSummary {
  totalMs: number;
  /** wall time the process was busy (not idle) */
  busyMs: number;
  topSelf: Cost[];
  categories: Cost[];
  inclusive: Cost[];
}

/** Which piece of the request path a frame belongs to: first match wins. */
const CATEGORIES: [string, (f: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['V8/native (program)', (f) => f.functionName === '(program)'],
  ['IPC to/from replicas (child_process channel, JSON serialization)', (f) => /internal\/child_process(\/serialization)?/.test(f.url)],
  ['SQLite (better-sqlite3, src/store)', (f) => /better-sqlite3|\/src\/store\//.test(f.url)],
  ['data plane: task building (src/dataplane/task.ts, qs)', (f) => /\/src\/dataplane\/task\.ts|\/node_modules\/qs\//.test(f.url)],
  ['data plane: answer (src/dataplane/answer.ts)', (f) => /\/src\/dataplane\/answer\.ts/.test(f.url)],
  ['data plane: handler, body (src/dataplane/*)', (f) => /\/src\/dataplane\//.test(f.url)],
  ['supervisor: pool, replica, aliases (src/supervisor, src/child/aliases)', (f) => /\/src\/supervisor\/|\/src\/child\/aliases/.test(f.url)],
  ['logs (src/logs)', (f) => /\/src\/logs\//.test(f.url)],
  ['runtime listener (src/runtime.ts)', (f) => /\/src\/runtime\.ts/.test(f.url)],
  ['hono / management API', (f) => /\/node_modules\/(hono|@hono)\/|\/src\/api\//.test(f.url)],
  ['HTTP server (node:_http_*, net, streams)', (f) => /node:_http_|internal\/http|node:http|node:net|internal\/streams|node:stream|stream_base_commons|node:events/.test(f.url) || /^(node:)?(_http_|net|events)/.test(f.url)],
  ['timers, promises, async hooks', (f) => /internal\/timers|node:timers|internal\/process\/task_queues|async_hooks|internal\/promise/.test(f.url)],
  ['tsx loader (start-up)', (f) => /\/node_modules\/(tsx|esbuild|get-tsconfig)\//.test(f.url) || /internal\/modules/.test(f.url)],
  ['kinvey-flex-sdk / task runner (replica)', (f) => /kinvey|bundle\.js|child-[0-9a-f]+\.cjs/.test(f.url)],
  ['other node internals', (f) => f.url.startsWith('node:')],
  ['native builtins (JSON, RegExp, Buffer…)', (f) => f.url === ''],
];

export function categoryOf(f: CallFrame): string {
  for (const [name, test] of CATEGORIES) if (test(f)) return name;
  return 'other';
}

function label(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : '(native)'}`;
}

/** @param inclusiveNames function names whose inclusive time is reported (e.g. 'routeRequest'). */
export function summarize(profile: CpuProfile, inclusiveNames: string[] = [], top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idleUs = [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
  const busyUs = totalUs - idleUs;

  const self = new Map<string, number>();
  const cats = new Map<string, number>();
  const incl = new Map<string, number>();
  const wanted = new Set(inclusiveNames);
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    self.set(label(f), (self.get(label(f)) ?? 0) + us);
    cats.set(categoryOf(f), (cats.get(categoryOf(f)) ?? 0) + us);
    if (wanted.size > 0) {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const name = byId.get(cur)!.callFrame.functionName;
        if (wanted.has(name) && !seen.has(name)) { seen.add(name); incl.set(name, (incl.get(name) ?? 0) + us); }
      }
    }
  }
  const costs = (m: Map<string, number>): Cost[] => [...m].sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, ms: us / 1000, share: busyUs === 0 ? 0 : us / busyUs }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, topSelf: costs(self).slice(0, top), categories: costs(cats), inclusive: costs(incl) };
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

export function formatSummary(s: ProfileSummary, title: string): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [`#### ${title}`, '', `busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled`, '',
    '| piece | self ms | share of busy |', '|---|---:|---:|',
    ...s.categories.map((c) => `| ${c.name} | ${c.ms.toFixed(0)} | ${pct(c.share)} |`), ''];
  if (s.inclusive.length > 0) {
    lines.push('| function (inclusive) | ms | share of busy |', '|---|---:|---:|', ...s.inclusive.map((c) => `| \`${c.name}\` | ${c.ms.toFixed(0)} | ${pct(c.share)} |`), '');
  }
  lines.push('| top self time | ms | share of busy |', '|---|---:|---:|', ...s.topSelf.map((c) => `| \`${c.name}\` | ${c.ms.toFixed(0)} | ${pct(c.share)} |`), '');
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const names = (process.env.INCLUSIVE ?? '').split(',').filter(Boolean);
  for (const file of process.argv.slice(2)) console.log(formatSummary(summarize(readProfile(file), names), file));
}
