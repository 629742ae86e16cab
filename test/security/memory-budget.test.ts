/**
 * Issue 15, finding 8: settings bounded per field let one deployer reserve 16 × 8 GiB on a 24 GB
 * machine. The sum over environments of maxReplicas × memoryLimitMb may not pass the machine's
 * budget (src/supervisor/memory-budget.ts); a change past it is refused with 400
 * MemoryBudgetExceeded naming the budget and what is held, and nothing is stored.
 */
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { test } from 'node:test';
import { serveOptions } from '../../src/cli/serve.ts';
import { memoryBudgetMb } from '../../src/supervisor/memory-budget.ts';
import { echoProjectAt, startApi } from '../api/helpers.ts';

test('a new environment or new settings past the memory budget are refused with 400 MemoryBudgetExceeded; nothing is stored', async (t) => {
  const api = await startApi(t, { memoryBudgetMb: 2048 });
  const svc = await api.call('POST', '/v4/services', { json: { name: 'budget', type: 'internal' } });
  const create = (name: string, settings?: Record<string, number>) => api.call('POST', `/v4/services/${svc.body.id}/environments`, { json: { name, secret: 'budget-secret', settings } });

  const a = await create('A', { maxReplicas: 4, memoryLimitMb: 256 });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  assert.equal((await create('B')).status, 201, 'the defaults (1 × 256 MB) fit');
  const greedy = await create('C', { maxReplicas: 16, memoryLimitMb: 8192 });
  assert.equal(greedy.status, 400, JSON.stringify(greedy.body));
  assert.equal(greedy.body.code ?? greedy.body.error, 'MemoryBudgetExceeded');
  assert.match(JSON.stringify(greedy.body), /2048 MB/, 'it names the budget');
  assert.match(JSON.stringify(greedy.body), /1280 MB/, 'and what the other environments hold');
  const listed = await api.call('GET', `/v4/services/${svc.body.id}/environments`);
  assert.deepEqual(listed.body.map((e: { name: string }) => e.name).sort(), ['A', 'B'], 'the refused environment was not created');

  const raise = await api.call('PUT', `/v4/services/${svc.body.id}/environments/${a.body.id}`, { json: { settings: { maxReplicas: 8, memoryLimitMb: 256 } } });
  assert.equal(raise.status, 400, JSON.stringify(raise.body));
  const after = await api.call('GET', `/v4/services/${svc.body.id}/environments/${a.body.id}`);
  assert.deepEqual(after.body.settings, { maxReplicas: 4, memoryLimitMb: 256 }, 'the refused change left the settings as they were');
  const lower = await api.call('PUT', `/v4/services/${svc.body.id}/environments/${a.body.id}`, { json: { settings: { maxReplicas: 7, memoryLimitMb: 256 } } });
  assert.equal(lower.status, 200, `a change that fits (7 × 256 + 256 = 2048) is taken: ${JSON.stringify(lower.body)}`);
});

test('the default budget is physical memory less a reserve: 16 × 8 GiB is refused on this machine; --memory-budget-mb sets it', async (t) => {
  const budget = memoryBudgetMb({ memoryBudgetMb: 0 });
  const total = totalmem() / 1024 / 1024;
  assert.ok(budget < total && budget >= total - Math.max(1024, total * 0.1) - 1, `budget ${budget} of ${Math.round(total)} MB`);
  const api = await startApi(t);
  const svc = await api.call('POST', '/v4/services', { json: { name: 'greedy', type: 'internal' } });
  const res = await api.call('POST', `/v4/services/${svc.body.id}/environments`, { json: { name: 'Development', secret: 'budget-secret', settings: { maxReplicas: 16, memoryLimitMb: 8192 } } });
  // The runtime's own budget is the one computed here: its refusal names it. (A machine with more
  // than 128 GiB would take 16 × 8 GiB: then it must be accepted.)
  if (16 * 8192 > budget) {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.code ?? res.body.error, 'MemoryBudgetExceeded');
    assert.match(JSON.stringify(res.body), new RegExp(`budget is ${budget} MB`), 'the runtime\'s default budget is physical memory less the reserve');
  } else {
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  assert.equal((serveOptions(['--memory-budget-mb', '4096'], {}) as { memoryBudgetMb?: number }).memoryBudgetMb, 4096);
});

test('environments the embedding API makes (deployDirectory, watch) count against the same budget and are refused past it; nothing is stored', async (t) => {
  // 600 MB: two environments of the default 1 × 256 MB fit, a third does not.
  const api = await startApi(t, { memoryBudgetMb: 600 });
  const rt = api.rt;
  const project = await echoProjectAt(t, '1.0.0');
  await rt.deployDirectory(project, { service: 'embedded', environment: 'one' });
  await rt.deployDirectory(project, { service: 'embedded', environment: 'two' });
  const refused = (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MemoryBudgetExceeded');
    assert.match(err.message, /600 MB/, 'it names the budget');
    assert.match(err.message, /512 MB/, 'and what the other environments hold');
    return true;
  };
  await assert.rejects(rt.deployDirectory(project, { service: 'embedded', environment: 'three' }), refused);
  await assert.rejects(rt.deployDirectory(project, { service: 'another', environment: 'Development' }), refused);
  await assert.rejects(rt.watch(project, { service: 'watched', environment: 'Development' }), refused);
  const stored = await rt.context.store.services.listEnvironments();
  assert.deepEqual(stored.map((e) => e.name).sort(), ['one', 'two'], 'no refused environment was stored');
  assert.equal(await rt.context.store.services.findService('another'), undefined, 'nor the service made for it');
  // An environment that exists is deployed to again as before.
  const again = await rt.deployDirectory(project, { service: 'embedded', environment: 'two', version: '1.0.1' });
  assert.equal(again.status, 'COMPLETED');
  // And the management API counts what the embedding API made.
  const svc = await api.call('POST', '/v4/services', { json: { name: 'by-api', type: 'internal' } });
  const res = await api.call('POST', `/v4/services/${svc.body.id}/environments`, { json: { name: 'Development', secret: 'budget-secret' } });
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.code ?? res.body.error, 'MemoryBudgetExceeded');
});
