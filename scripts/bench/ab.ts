/**
 * A/B of the data plane's CPU per request: this checkout against another (BENCH_COMPARE_TREE),
 * in short alternating rounds, so the two see the same machine load. CPU time is read from
 * /proc for the flexd process and its replica apart. On a shared, loaded machine req/s swings
 * twofold between runs; CPU per request, compared round by round, is what stays comparable.
 *
 *   BENCH_COMPARE_TREE=/path/to/other/flexd npx tsx scripts/bench/ab.ts [items|ping] [rounds] [seconds] [connections]
 */
import { cpuMsOf, FIXTURE_DIR, loadAverage, median, runLoad, startFlexd, type FlexdProcess } from './lib.ts';
import { KINDS, SECRET, type Kind } from './requests.ts';

const kind = (process.argv[2] ?? 'items') as Kind;
const rounds = Number(process.argv[3] ?? 8);
const seconds = Number(process.argv[4] ?? 2);
const connections = Number(process.argv[5] ?? 20);
const other = process.env.BENCH_COMPARE_TREE;
if (!other) throw new Error('BENCH_COMPARE_TREE: the other checkout to compare with');
if (!(kind in KINDS)) throw new Error(`unknown load "${kind}" (${Object.keys(KINDS).join(', ')})`);

interface Side { name: string; flexd: FlexdProcess; replica: number; url: string; parent: number[]; child: number[]; rps: number[] }

async function side(name: string, tree?: string): Promise<Side> {
  const flexd = await startFlexd(`ab-${name}`, {}, [], tree);
  await flexd.call('deploy', { dir: FIXTURE_DIR, service: 'bench', environment: 'Development', secret: SECRET });
  const [replica] = await flexd.call<{ pid: number }[]>('replicaPids');
  return { name, flexd, replica: replica.pid, url: `${flexd.url}/flex/bench/Development`, parent: [], child: [], rps: [] };
}

const sides = [await side('this'), await side('other', other)];
try {
  for (const s of sides) await runLoad(s.url, KINDS[kind], { connections, seconds: 1 });
  const loads: number[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
      const p0 = cpuMsOf(s.flexd.pid);
      const c0 = cpuMsOf(s.replica);
      const r = await runLoad(s.url, KINDS[kind], { connections, seconds });
      if (r.non2xx + r.errors > 0) throw new Error(`${s.name}: ${r.non2xx + r.errors} failed requests`);
      s.parent.push(((cpuMsOf(s.flexd.pid) - p0) * 1000) / r.requests);
      s.child.push(((cpuMsOf(s.replica) - c0) * 1000) / r.requests);
      s.rps.push(r.rps);
    }
    loads.push(loadAverage());
    const [a, b] = sides;
    console.log(`round ${i + 1}: this parent ${a.parent[i].toFixed(0)} + replica ${a.child[i].toFixed(0)} µs/req (${a.rps[i].toFixed(0)} req/s) · other ${b.parent[i].toFixed(0)} + ${b.child[i].toFixed(0)} µs/req (${b.rps[i].toFixed(0)} req/s) · load ${loads[i].toFixed(1)}`);
  }
  const [a, b] = sides;
  const ratio = (x: number[], y: number[]) => median(x.map((v, i) => v / y[i]));
  console.log(`${kind}, ${rounds} rounds × ${seconds} s, ${connections} connections, load ${median(loads).toFixed(1)} (median)`);
  console.log(`this:  parent ${median(a.parent).toFixed(0)} µs/req, replica ${median(a.child).toFixed(0)} µs/req, ${median(a.rps).toFixed(0)} req/s`);
  console.log(`other: parent ${median(b.parent).toFixed(0)} µs/req, replica ${median(b.child).toFixed(0)} µs/req, ${median(b.rps).toFixed(0)} req/s`);
  console.log(`this/other, median of the rounds' ratios: parent ${ratio(a.parent, b.parent).toFixed(3)}, replica ${ratio(a.child, b.child).toFixed(3)}, req/s ${ratio(a.rps, b.rps).toFixed(3)}`);
} finally {
  for (const s of sides) await s.flexd.close();
}
