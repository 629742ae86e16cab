// Loaded into a replica by `npm run bench`'s profile phase, as the first module of a copy of the
// bench service (flexd passes a replica no NODE_OPTIONS; scripts/bench/run.ts profiledService). The first SIGUSR2 starts the inspector's CPU profiler, the
// second stops it and writes BENCH_PROFILE_DIR/replica-<pid>.cpuprofile, so the profile covers
// the load window only. When flexd runs as root the replica runs as an unprivileged user: the
// directory must be writable by it.
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  let session;
  process.on('SIGUSR2', () => {
    if (!session) {
      session = new inspector.Session();
      session.connect();
      session.post('Profiler.enable');
      session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL_US) || 500 });
      session.post('Profiler.start');
      return;
    }
    session.post('Profiler.stop', (err, result) => {
      try {
        if (err) throw err;
        const file = path.join(dir, `replica-${process.pid}.cpuprofile`);
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(result.profile));
        fs.renameSync(`${file}.tmp`, file);
      } catch (e) {
        console.error(`bench replica-profiler: ${e && e.message}`);
      }
      session.disconnect();
      session = undefined;
    });
  });
}
