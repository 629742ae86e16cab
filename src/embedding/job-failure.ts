import type { FinishedJob } from '../deploy/jobs.ts';
import { FlexdError, isFlexdError } from '../errors.ts';
import { StartError } from '../supervisor/replica.ts';
import { firstErrorLine } from './start-failure.ts';

/** The error of every embedding call made after (or cut short by) `close()`. */
export function runtimeClosed(what: string): FlexdError {
  return new FlexdError('RuntimeClosed', `The runtime is closed: ${what} was not done. Create a new runtime.`, { status: 503 });
}

/**
 * A failed job as the error an embedding call rejects with: the code of what failed
 * (`InvalidProject`, `DeploymentVersionTooLow`, `DependencyInstallFailed`…), `StartFailed` for
 * replicas that did not start — its message names the first error line the service printed —
 * and `DeployFailed` only for a failure flexd has no code for. `debug` holds the job's progress.
 */
export function jobFailure(done: FinishedJob): FlexdError {
  const thrown = done.error;
  // The deploy pipeline wraps its error in one whose message is the job's text.
  const cause = thrown instanceof Error && !isFlexdError(thrown) && !(thrown instanceof StartError) && thrown.cause !== undefined ? thrown.cause : thrown;
  return failure(cause, done.reason ?? done.progress.split('\n').at(-1) ?? 'the job failed', done.progress);
}

/** What an activation (or any step) threw, as a FlexdError with the code a test branches on. */
export function failure(err: unknown, fallbackMessage: string, debug = ''): FlexdError {
  if (err instanceof StartError) {
    const first = firstErrorLine(err.tail);
    const message = `The new version failed to start: ${first ?? err.message}`;
    return new FlexdError('StartFailed', message, { status: 500, debug: `${err.message}${err.tail ? `\n--- last output ---\n${err.tail}` : ''}`, cause: err });
  }
  if (isFlexdError(err)) {
    return new FlexdError(err.code, err.message, { status: err.status, debug: err.debug || debug, cause: err });
  }
  return new FlexdError('DeployFailed', fallbackMessage, { status: 500, debug, cause: err });
}
