import { resolve } from 'node:path';
import { DEFAULTS } from '../../config.ts';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';

export const backup: Command = {
  name: 'backup',
  summary: 'copy a data dir\'s database, consistently, while flexd runs',
  usage: `Usage: flexd backup --out FILE [--data-dir DIR]

Copies the database of the data dir (FLEXD_DATA_DIR, default ${DEFAULTS.dataDir}) to FILE with
SQLite's online backup API: consistent while flexd serves, never overwriting FILE. The copy holds
every service, environment, version, variable, account and log line (mode 0600: keep it private).

Restore: a new data dir with the copy as flexd.db, then flexd serve --data-dir DIR
(docs/operating.md, "Backup and restore").`,
  options: { 'data-dir': { type: 'string' }, out: { type: 'string' }, database: { type: 'string' } },
  async run({ args, out, env }) {
    if (args.values.database ?? env.FLEXD_DATABASE_URL) {
      throw new CliError('this flexd keeps its data in PostgreSQL (--database / FLEXD_DATABASE_URL): back it up with pg_dump, e.g. pg_dump --format=custom --file flexd.dump "$FLEXD_DATABASE_URL" (docs/scale-out.md, "Backup")');
    }
    const dataDir = resolve(String(args.values['data-dir'] ?? env.FLEXD_DATA_DIR ?? DEFAULTS.dataDir));
    const file = args.values.out;
    if (typeof file !== 'string' || file === '') throw new CliError('--out FILE is required');
    // Loaded here: better-sqlite3, which the commands that talk to an API never need.
    const { backupDatabase } = await import('../../store/backup.ts');
    const result = await backupDatabase(dataDir, resolve(file));
    out.result(result, () => out.say(`Backed up ${dataDir} to ${result.file} (${Math.round(result.bytes / 1024)} KiB in ${result.ms} ms)`));
  },
};
