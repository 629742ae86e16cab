import type { Logger } from '../logger.ts';
import type { EnvironmentDirectory } from '../dataplane/directory.ts';
import type { EventBus, FlexdEvent } from './bus.ts';
import { environmentNames } from './names.ts';

/**
 * flexd's server log: one line per event an operator cares about, with the service and
 * environment by name. Lines about what went wrong are warnings or errors; a planned stop
 * (swap, idling) is info.
 *
 *   2026-11-30T00:10:02.120Z INFO  deploy finished service=orders environment=Development version=1.0.1 durationMs=812
 *   2026-11-30T00:12:40.004Z ERROR replica exited service=orders environment=Development reason=memory restartInMs=0 …
 */
export function logServerEvents(events: EventBus, directory: EnvironmentDirectory, log: Logger): void {
  events.on((e) => {
    const { environmentId, type, ...fields } = e;
    // `by: null` (a change an embedder made, with no account) is left out rather than printed as null
    const present = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null));
    const line = { ...environmentNames(directory, environmentId), ...present };
    switch (e.type) {
      case 'deploy-started': return log.info(line, 'deploy started');
      case 'deploy-finished': return log.info(line, 'deploy finished');
      case 'deploy-failed': return log.error(line, 'deploy failed');
      case 'swap': return log.info(line, e.from === undefined ? 'version started' : 'swapped versions');
      case 'replica-exit': return log[level(e)](line, e.restartInMs === undefined ? 'replica exited' : 'replica exited; restarting');
      case 'replica-start-failed': return log.error(line, 'replica failed to start');
      case 'idle': return log.info(line, 'environment idle: replicas stopped');
      case 'suspended': return log.error(line, 'environment suspended');
      case 'rollback': return log.info(line, 'rolled back');
      case 'rollback-failed': return log.error(line, 'rollback failed');
      case 'recycled': return log.info(line, 'replicas recycled');
      case 'environment-changed': return log.info({ ...line, changes: e.changes.join('; ') }, 'environment changed');
    }
  });
}

function level(e: Extract<FlexdEvent, { type: 'replica-exit' }>): 'info' | 'warn' | 'error' {
  if (e.reason === 'idle' || e.reason === 'retired') return 'info';
  return e.reason === 'crash' ? 'error' : 'warn';
}
