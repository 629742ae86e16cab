/**
 * A process manager at its fastest: preloaded into `flexd serve` with
 * `NODE_OPTIONS=--import <this file>`, it sends the process SIGTERM from inside the write of the
 * "flexd listening on" line, before the line leaves, then lets the write go on. A signal a process
 * sends itself is delivered before kill() returns, so the outcome never depends on timing: with
 * flexd's SIGTERM handler in place by then, flexd drains and exits 0; without one, the kernel's
 * default action ends the process at once (killed by SIGTERM, the line never written).
 * It says on stderr that it sent the signal, so a test can tell it ran.
 */
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const write = process.stdout.write;
  let sent = false;
  process.stdout.write = function (chunk, ...rest) {
    if (!sent && String(chunk).includes('flexd listening on')) {
      sent = true;
      process.stderr.write('sigterm-on-listening: SIGTERM sent\n');
      process.kill(process.pid, 'SIGTERM');
    }
    return write.call(this, chunk, ...rest);
  };
}
