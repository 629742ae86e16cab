import { setTimeout as sleep } from 'node:timers/promises';
import { visibleControls } from '../../logs/visible-text.ts';
import { isoDate, positiveInt } from '../args.ts';
import { ApiClient, type LogEntry } from '../client.ts';
import { currentProfile, profilePath } from '../profile.ts';
import { cell } from '../output.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import type { Output } from '../output.ts';
import { connect } from '../session.ts';
import { resolveTarget } from '../target.ts';

/** `--follow` asks for new lines this often: fast enough to feel live, cheap for the server (one indexed query). */
export const FOLLOW_INTERVAL_MS = 500;
/** The API's maximum page: a busy service's backlog is read in as few polls as possible. */
const FOLLOW_BATCH = 2000;

/** How many of the newest lines `flexd logs` shows without paging flags (and `--follow` before it follows): heroku logs' number. */
export const DEFAULT_TAIL = 100;

export const logs: Command = {
  name: 'logs',
  summary: "show a service environment's newest log lines (--follow keeps printing)",
  usage: `Usage: flexd logs --service S [--env E] [-n N | --tail N] [--follow]
       flexd logs --service S [--env E] [--from ISO] [--to ISO] [--page N] [--number N]

Shows what the environment's replicas wrote to stdout and stderr (and flexd's own [flexd] lines
about them), oldest first. Without paging flags: the newest lines, as tail, kubectl logs --tail
and heroku logs show them; the last line printed is the newest.

${TARGET_HELP}
  -n, --tail N           the newest N lines (default ${DEFAULT_TAIL}, at most 2000)
  -f, --follow           print the newest lines (--tail N of them; --tail 0 for none), then every
                         new line as it arrives, until Ctrl-C; --from ISO starts from that time instead
  --raw                  print control characters as the service wrote them (by default they
                         show as visible escapes such as \\x1b, so a service's output cannot
                         clear your screen, move the cursor or set your clipboard); --output json
                         with --raw: the messages as written, JSON-escaped

Paging, as kinvey flex logs pages (page 1 holds the oldest lines):
  --from ISO, --to ISO   only lines in this time range (ISO-8601, e.g. 2024-05-01T12:00:00Z)
  --page N               page of --number lines, from 1
  --number N             lines per page (server default 100, max 2000)`,
  options: {
    ...TARGET_OPTIONS,
    from: { type: 'string' },
    to: { type: 'string' },
    page: { type: 'string' },
    number: { type: 'string' },
    tail: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
    raw: { type: 'boolean' },
  },
  async run({ args, out, env }) {
    const from = isoDate(args.values.from, '--from');
    const to = isoDate(args.values.to, '--to');
    if (from && to && from >= to) throw new CliError('--from must be earlier than --to');
    const page = positiveInt(args.values.page, '--page');
    const limit = positiveInt(args.values.number, '--number');
    const tail = tailCount(args.values.tail);
    const follows = args.values.follow === true;
    const paging = [from && '--from', to && '--to', page && '--page', limit && '--number'].filter(Boolean);
    if (tail !== undefined && paging.length > 0) {
      throw new CliError(`--tail (-n) shows the newest lines and cannot be combined with ${paging.join(', ')}; page with --page/--number, or drop them`);
    }
    if (follows && (to || page || limit)) throw new CliError('--follow cannot be combined with --to, --page or --number');
    if (tail === 0 && !follows) throw new CliError('--tail 0 shows nothing without --follow');
    const raw = args.values.raw === true;
    const api = await connect(args.globals);
    const { service, environment } = await resolveTarget(api, args.values);

    if (follows) {
      await follow(api, service.id, environment.id, from ? { from } : { tail: tail ?? DEFAULT_TAIL }, out, raw, args.globals.profile, env);
      return;
    }
    const entries = paging.length > 0
      ? await api.logs(service.id, environment.id, { from, to, limit, page, raw })
      : await api.logs(service.id, environment.id, { tail: tail ?? DEFAULT_TAIL, raw });
    out.result(entries, () => out.list(entries.map((e) => row(e, raw)), ['containerId', 'timestamp', 'threshold', 'message']));
  },
};

/** `--tail N`: 0 (with --follow: only new lines) to the API's page maximum. */
function tailCount(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n > MAX_TAIL) throw new CliError(`--tail must be a whole number from 0 to ${MAX_TAIL}, not "${value}"`);
  return n;
}

/** The API's largest page (log-query.ts MAX_LOG_LIMIT). */
const MAX_TAIL = 2000;

/**
 * kinvey-cli's log table row: the container id cut to 12 characters, the message on one line,
 * its control characters as visible escapes (the server sends them so already; an older server
 * may not): C0 (ESC starts the sequences that clear a screen or, with OSC 52, set the clipboard),
 * DEL, C1 (U+009B is a one-character CSI on some terminals), bidirectional overrides.
 */
function row(e: LogEntry, raw = false): Record<string, string> {
  const message = cell(e.message);
  return { containerId: cell(e.containerId).slice(0, 12), timestamp: cell(e.timestamp), threshold: cell(e.threshold), message: raw ? message : visibleControls(message) };
}

/**
 * Tails the log: first the newest `start.tail` lines (or every line since `start.from`), then
 * every ~500 ms the lines after the last `_id` seen (flexd's `afterId` extension). Runs until
 * SIGINT or SIGTERM, which end it with exit code 0. When the session ends under it because the
 * profile logged in again elsewhere (a new token in the profile file), it goes on with the new one.
 */
async function follow(
  first: ApiClient, serviceId: string, environmentId: string, start: { from: string } | { tail: number },
  out: Output, raw: boolean, profileName: string | undefined, env: NodeJS.ProcessEnv,
): Promise<never> {
  const stop = () => process.exit(0);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let api = first;
  const print = (batch: LogEntry[]) => {
    for (const entry of batch) {
      if (out.json) out.jsonLine(entry);
      else out.say(followLine(entry, raw));
    }
  };
  let afterId: string | undefined;
  if ('tail' in start) {
    // the newest line fixes where following starts, even when --tail 0 prints none of them
    const newest = await api.logs(serviceId, environmentId, { tail: Math.max(1, start.tail), raw });
    print(newest.slice(newest.length - start.tail));
    afterId = newest.at(-1)?._id ?? '0';
  }
  for (;;) {
    let batch: LogEntry[];
    try {
      batch = afterId === undefined
        ? await api.logs(serviceId, environmentId, { from: (start as { from: string }).from, limit: FOLLOW_BATCH, raw })
        : await api.logs(serviceId, environmentId, { afterId, limit: FOLLOW_BATCH, raw });
    } catch (err) {
      const renewed = (err as CliError).code === 'InvalidCredentials' ? await renewedClient(api, profileName, env) : undefined;
      if (!renewed) throw err;
      api = renewed;
      continue;
    }
    print(batch);
    if (batch.length > 0) afterId = batch[batch.length - 1]._id;
    if (batch.length < FOLLOW_BATCH) await sleep(FOLLOW_INTERVAL_MS);
  }
}

/** A client with the profile's token as the file now holds it, when that differs from the one that failed. */
async function renewedClient(failed: ApiClient, profileName: string | undefined, env: NodeJS.ProcessEnv): Promise<ApiClient | undefined> {
  const { profile } = await currentProfile(profileName, profilePath(env)).catch(() => ({ profile: undefined }));
  if (!profile?.token || profile.token === failed.token || profile.host !== failed.host) return undefined;
  return new ApiClient(failed.host, profile.token);
}

/** One followed line: `timestamp  container  threshold  message`, the threshold padded so messages line up. */
export function followLine(e: LogEntry, raw = false): string {
  const r = row(e, raw);
  return `${r.timestamp}  ${r.containerId.padEnd(12)}  ${(r.threshold || '-').padEnd(5)}  ${r.message}`;
}
