import { setTimeout as sleep } from 'node:timers/promises';
import { isoDate, positiveInt } from '../args.ts';
import type { ApiClient, LogEntry } from '../client.ts';
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

export const logs: Command = {
  name: 'logs',
  summary: "show a service environment's log lines",
  usage: `Usage: flexd logs --service S [--env E] [--from ISO] [--to ISO] [--page N] [--number N] [--follow]

Shows what the environment's replicas wrote to stdout and stderr, oldest first.

${TARGET_HELP}
  --from ISO, --to ISO   only lines in this time range (ISO-8601, e.g. 2024-05-01T12:00:00Z)
  --page N               page of --number lines, from 1
  -n, --number N         lines per page (server default 100, max 2000)
  -f, --follow           keep printing new lines (from --from, default now) until Ctrl-C
  --raw                  print control characters as the service wrote them (by default they
                         show as visible escapes such as \\u001b, so a service's output cannot
                         clear your screen, move the cursor or set your clipboard)`,
  options: {
    ...TARGET_OPTIONS,
    from: { type: 'string' },
    to: { type: 'string' },
    page: { type: 'string' },
    number: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
    raw: { type: 'boolean' },
  },
  async run({ args, out }) {
    const from = isoDate(args.values.from, '--from');
    const to = isoDate(args.values.to, '--to');
    if (from && to && from >= to) throw new CliError('--from must be earlier than --to');
    const page = positiveInt(args.values.page, '--page');
    const limit = positiveInt(args.values.number, '--number');
    const raw = args.values.raw === true;
    const api = await connect(args.globals);
    const { service, environment } = await resolveTarget(api, args.values);

    if (args.values.follow) {
      if (to || page) throw new CliError('--follow cannot be combined with --to or --page');
      await follow(api, service.id, environment.id, from, out, raw);
      return;
    }
    const entries = await api.logs(service.id, environment.id, { from, to, limit, page });
    out.result(entries, () => out.list(entries.map((e) => row(e, raw)), ['containerId', 'timestamp', 'threshold', 'message']));
  },
};

/** kinvey-cli's log table row: the container id cut to 12 characters, the message on one line. */
function row(e: LogEntry, raw = false): Record<string, string> {
  const message = cell(e.message);
  return { containerId: cell(e.containerId).slice(0, 12), timestamp: cell(e.timestamp), threshold: cell(e.threshold), message: raw ? message : visible(message) };
}

/**
 * A service's text with every control character shown as a visible `\uXXXX` escape: C0 (ESC
 * starts the sequences that clear a screen or, with OSC 52, set the clipboard), DEL, and C1
 * (U+009B is a one-character CSI on some terminals). A tab stays a tab.
 *
 * @example visible('\u001b[2Jhi') // '\\u001b[2Jhi'
 */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Tails the log: first the lines since `from` (default: now by the server's clock, from the
 * `Date` header of the last answer), then every ~500 ms the lines after the last `_id` seen
 * (flexd's `afterId` extension). Runs until SIGINT or SIGTERM, which end it with exit code 0.
 */
async function follow(api: ApiClient, serviceId: string, environmentId: string, from: string | undefined, out: Output, raw: boolean): Promise<never> {
  const stop = () => process.exit(0);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const start = from ?? (api.lastServerDate ?? new Date()).toISOString();
  let afterId: string | undefined;
  for (;;) {
    const batch = afterId === undefined
      ? await api.logs(serviceId, environmentId, { from: start, limit: FOLLOW_BATCH })
      : await api.logs(serviceId, environmentId, { afterId, limit: FOLLOW_BATCH });
    for (const entry of batch) {
      if (out.json) out.jsonLine(entry);
      else out.say(followLine(entry, raw));
    }
    if (batch.length > 0) afterId = batch[batch.length - 1]._id;
    if (batch.length < FOLLOW_BATCH) await sleep(FOLLOW_INTERVAL_MS);
  }
}

/** One followed line: `timestamp  container  threshold  message`, the threshold padded so messages line up. */
export function followLine(e: LogEntry, raw = false): string {
  const r = row(e, raw);
  return `${r.timestamp}  ${r.containerId.padEnd(12)}  ${(r.threshold || '-').padEnd(5)}  ${r.message}`;
}
