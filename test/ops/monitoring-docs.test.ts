/**
 * docs/monitoring.md shows sample server log lines and a table of every message: they must be
 * what flexd prints (issue 16: the docs showed `inFlight=0` where flexd logged `inFlight="{}"`).
 * One runtime goes through start, two deploys, a rollback, a variable and settings change, a
 * recycle, a crash and its stop; each documented sample line must have a real line with the same
 * level, message and fields, each field's value of the same shape (a number where the doc shows
 * a number); every message flexd printed must be in the table, at its level.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createLogger, type Logger } from '../../src/logger.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { deployFixture, signal, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';

const DOC = fileURLToPath(new URL('../../docs/monitoring.md', import.meta.url));
const ADMIN = { email: 'ops@example.com', password: 'monitoring-docs-password' };

interface Line { level: string; msg: string; fields: Record<string, string> }

/** `2026-11-29T23:53:02.951Z INFO  msg key=value key="quoted value"` → its level, message and raw field values. */
function parseTextLine(text: string): Line | undefined {
  const m = /^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO|WARN|ERROR) +(.*)$/.exec(text);
  if (!m) return undefined;
  const rest = m[2]!;
  const field = / ([A-Za-z][A-Za-z0-9]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  const first = rest.search(/ [A-Za-z][A-Za-z0-9]*=/);
  const msg = first === -1 ? rest : rest.slice(0, first);
  const fields: Record<string, string> = {};
  for (const f of (first === -1 ? '' : rest.slice(first)).matchAll(field)) fields[f[1]!] = f[2]!;
  return { level: m[1]!.toLowerCase(), msg, fields };
}

/**
 * A value's shape: a number, a quoted string, or a bare word (an id shortened with … is still a
 * word, and so is an id whose random hex digits happen to be all decimal: `containerId=721632375654`).
 */
function shape(value: string, key: string): 'number' | 'quoted' | 'word' {
  if (/^-?\d+(\.\d+)?$/.test(value) && !/(^id|Id)$/.test(key)) return 'number';
  return value.startsWith('"') ? 'quoted' : 'word';
}

test('docs/monitoring.md: its sample lines and message table match what the server log prints', async (t) => {
  const cleanup = cleanupStack(t);
  const text: string[] = [];
  const json: Record<string, any>[] = [];
  const textOut = new PassThrough();
  const jsonOut = new PassThrough();
  textOut.setEncoding('utf8').on('data', (c: string) => text.push(...c.split('\n').filter(Boolean)));
  jsonOut.setEncoding('utf8').on('data', (c: string) => json.push(...c.split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  const a = createLogger({ format: 'text', destination: textOut });
  const b = createLogger({ format: 'json', destination: jsonOut });
  const both = (level: keyof Logger): Logger[keyof Logger] => (fields, msg) => { a[level](fields, msg); b[level](fields, msg); };
  const logger: Logger = { debug: both('debug'), info: both('info'), warn: both('warn'), error: both('error') };

  const h = await startRuntime(cleanup, { logger, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST });
  const orders = { service: 'orders', environment: 'Production' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', orders);
  await deployFixture(h, cleanup, 'versioned', '1.1.0', orders);

  const session = await (await fetch(`${h.rt.url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })).json() as { token: string };
  const auth = { Authorization: `Kinvey ${session.token}`, 'content-type': 'application/json' };
  const services = await (await fetch(`${h.rt.url}/v4/services`, { headers: auth })).json() as Array<{ id: string; name: string }>;
  const sid = services.find((s) => s.name === 'orders')!.id;
  const envs = await (await fetch(`${h.rt.url}/v4/services/${sid}/environments`, { headers: auth })).json() as Array<Record<string, any>>;
  const eid = envs[0]!.id as string;
  const job = async (body: unknown) => {
    const res = await fetch(`${h.rt.url}/v4/jobs`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    assert.equal(res.status, 201, await res.clone().text());
    const id = (await res.json() as { job: string }).job;
    await withDeadline(`job ${id}`, h.rt.context.deployer.jobs.wait(id), 60_000);
  };
  await job({ type: 'rollbackService', params: { serviceId: sid, serviceEnvironmentId: eid, version: '1.0.0' } });
  const { id: _id, secret: _secret, ...env } = envs[0]!;
  const put = await fetch(`${h.rt.url}/v4/services/${sid}/environments/${eid}`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ ...env, environmentVariables: { API_KEY: 'Value-Never-Logged' }, settings: { ...env.settings, memoryLimitMb: 512 } }),
  });
  assert.equal(put.status, 200, await put.clone().text());
  await withDeadline('the change applied', h.rt.context.deployer.jobs.wait(put.headers.get('x-flexd-job')!), 60_000);
  await job({ type: 'recycleService', params: { serviceId: sid, serviceEnvironmentId: eid } });
  const { pid } = await whoami(h.base(orders.service, orders.environment), 'the replica before the crash');
  signal(pid, 'SIGKILL');
  await waitFor('the crash line', () => json.find((l) => l.msg === 'replica exited; restarting'));
  await h.close();
  await waitFor('the stopped line', () => json.find((l) => l.msg === 'flexd stopped'));
  assert.ok(!JSON.stringify(json).includes('Value-Never-Logged'), 'no variable value in the server log');

  if (process.env.FLEXD_DUMP_LOG) console.error(text.join('\n'));
  const doc = await readFile(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Server log'), doc.indexOf('## Metrics'));
  const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const samples = blocks.filter((m) => m[1] === '').flatMap((m) => m[2]!.split('\n').filter(Boolean));
  assert.ok(samples.length >= 8, 'the doc shows sample text lines');
  const real = text.map(parseTextLine).filter((l): l is Line => l !== undefined);
  for (const sample of samples) {
    const documented = parseTextLine(sample);
    assert.ok(documented, `a sample line in flexd's text format: ${sample}`);
    const candidates = real.filter((l) => l.level === documented.level && l.msg === documented.msg);
    assert.ok(candidates.length > 0, `flexd printed "${documented.msg}" at ${documented.level}: ${sample}`);
    const same = candidates.find((l) => Object.keys(l.fields).sort().join() === Object.keys(documented.fields).sort().join()
      && Object.entries(documented.fields).every(([k, v]) => shape(v, k) === shape(l.fields[k]!, k) || (shape(v, k) === 'word' && shape(l.fields[k]!, k) === 'quoted')));
    assert.ok(same, `a real line with the fields of the sample, each of the same shape:\n  doc:  ${sample}\n  real: ${text.filter((l) => l.includes(` ${documented.msg}`)).join('\n        ')}`);
  }
  for (const m of blocks.filter((b) => b[1] === 'json')) {
    for (const sample of m[2]!.split('\n').filter(Boolean)) {
      const documented = JSON.parse(sample) as Record<string, unknown>;
      const same = json.find((l) => l.msg === documented.msg && Object.keys(l).sort().join() === Object.keys(documented).sort().join());
      assert.ok(same, `a real JSON line with the keys of ${sample}`);
    }
  }

  const table = new Map([...section.matchAll(/^\| `([^`]+)`(?: \/ `([^`]+)`)? \| ([a-z ,()]+) \|/gm)].flatMap((m) => [[m[1]!, m[3]!], ...(m[2] ? [[m[2], m[3]!]] : [])] as Array<[string, string]>));
  for (const l of json) {
    const documented = [...table.entries()].find(([msg]) => msg === l.msg || (msg.endsWith('…') && l.msg.startsWith(msg.slice(0, -1).trimEnd())));
    assert.ok(documented, `"${l.msg}" is in the table of docs/monitoring.md`);
    assert.match(documented[1], new RegExp(`\\b${l.level}\\b`), `"${l.msg}" is documented at level ${l.level}`);
  }
});
