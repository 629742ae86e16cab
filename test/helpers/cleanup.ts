/**
 * Cleanups that run last-registered-first. node:test runs `t.after` hooks in registration order
 * (verified on Node 20), which would remove a data dir before the runtime using it is closed;
 * a stack undoes things in the reverse order they were set up:
 *
 *   const cleanup = cleanupStack(t);
 *   const dataDir = await tempDir(cleanup);
 *   const rt = await createRuntime({ dataDir, port: 0 });
 *   cleanup.after(() => rt.close());          // runs before the dir is removed
 */

/** The part of node:test's TestContext (and of a CleanupStack) that cleanup helpers need. */
export interface CleanupContext {
  after(fn: () => unknown): void;
}

export class CleanupStack implements CleanupContext {
  readonly #fns: Array<() => unknown> = [];

  after(fn: () => unknown): void {
    this.#fns.push(fn);
  }

  /** Runs every cleanup, newest first, even when one fails; then reports the failures. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let fn = this.#fns.pop(); fn; fn = this.#fns.pop()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`);
  }
}

/** A CleanupStack that runs when `t` ends (pass a suite's `after` hook as `{ after }`). */
export function cleanupStack(t: CleanupContext): CleanupStack {
  const stack = new CleanupStack();
  t.after(() => stack.run());
  return stack;
}
