import type { ServiceEnvironment } from '../client.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { waitForJob } from '../jobs.ts';
import { connect } from '../session.ts';
import { resolveTarget, targetName } from '../target.ts';

/** Per-environment settings: the server checks names and ranges (docs/configuration.md); this only shapes the values. */
export type SettingValues = Record<string, number | boolean>;

export const settings: Command = {
  name: 'settings',
  summary: "show or change a service environment's settings (timeouts, memory, replicas)",
  usage: `Usage: flexd settings --service S [--env E] [--set KEY=VALUE …] [--no-wait]

Without --set, shows the environment's own settings and the values in force (its own, or the
server's default). With --set, changes them; KEY= (empty) drops the environment's own value, so
the server's default applies. A change restarts the replicas as one swap; this waits for it.
Settings and their ranges: docs/configuration.md (requestTimeoutMs, idleTimeoutMs,
memoryLimitMb, minReplicas, maxReplicas, strictUnhandledRejections).

${TARGET_HELP}
  --set KEY=VALUE        a setting to change (repeatable): a number, true or false
  --no-wait              return once the change is stored`,
  options: { ...TARGET_OPTIONS, set: { type: 'string', multiple: true }, 'no-wait': { type: 'boolean' } },
  async run({ args, out }) {
    const changes = parseSets(args.values.set as unknown as string[] | undefined);
    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const { service, environment } = target;
    const current = (environment.settings ?? {}) as SettingValues;
    if (!changes) {
      out.result(current, () => out.object(Object.keys(current).length > 0 ? current : { settings: '(none: the server\'s defaults apply)' }));
      return;
    }
    const next: SettingValues = { ...current };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    // The PUT takes the environment as GET returned it, minus its id, with the new settings.
    const { id: _id, ...body } = environment;
    if (body.description === null) delete body.description;
    delete body.runtime;
    const updated = await api.updateEnvironment(service.id, environment.id, { ...body, settings: next } as Omit<ServiceEnvironment, 'id'>);
    const job = api.lastHeaders?.get('x-flexd-job');
    if (job && !args.values['no-wait']) {
      out.say(`Restarting ${targetName(target)} with the new settings (job ${job})`);
      await waitForJob(api, job, (line) => out.say(`  ${line}`));
    }
    const stored = (updated?.settings ?? next) as SettingValues;
    out.result(stored, () => out.object(Object.keys(stored).length > 0 ? stored : { settings: '(none: the server\'s defaults apply)' }));
  },
};

/**
 * `--set` values: `KEY=123` a number, `KEY=true|false` a boolean, `KEY=` drops the key.
 *
 * @example parseSets(['memoryLimitMb=512', 'strictUnhandledRejections=true', 'idleTimeoutMs='])
 *   // { memoryLimitMb: 512, strictUnhandledRejections: true, idleTimeoutMs: undefined }
 */
export function parseSets(sets: string[] | undefined): Record<string, number | boolean | undefined> | undefined {
  if (!sets || sets.length === 0) return undefined;
  const out: Record<string, number | boolean | undefined> = {};
  for (const item of sets) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    if (!key) throw new CliError(`--set expects KEY=VALUE, got "${item}"`);
    const raw = item.slice(eq + 1).trim();
    if (raw === '') out[key] = undefined;
    else if (raw === 'true' || raw === 'false') out[key] = raw === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(raw.replace(/_/g, ''))) out[key] = Number(raw.replace(/_/g, ''));
    else throw new CliError(`--set ${key}: "${raw}" is not a number, true or false`);
  }
  return out;
}
