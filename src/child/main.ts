/**
 * The entry point of a replica: `node [flags] child.cjs <projectDir>`. Everything in src/child
 * runs inside the replica and imports nothing from the parent side.
 *
 * Order matters: the channel's lifecycle is in place before the service's code loads, so a
 * replica whose runtime died exits even while the service is still starting. The service's code
 * loads only on flexd's `start` message (protocol.ts).
 */
import { hasChannel, openChannel, send } from './channel.ts';
import { loadService } from './load-service.ts';
import { isToReplica, RECEIVER_GLOBAL } from './protocol.ts';
import * as receiver from './receiver.ts';
import { restoreAliases } from './aliases.ts';

const projectDir = process.argv[2];
if (!projectDir || !hasChannel()) {
  console.error('flexd child: run by flexd with a channel on fd 3 and a project folder');
  process.exit(2);
}

// Backpressure for output: a service that logs faster than flexd stores lines waits on the
// pipe instead of piling its output up in its own memory until the memory cap kills it (a
// 1M-line flood did, in test/reliability/log-flood). Pipes to a child are non-blocking in Node.
for (const stream of [process.stdout, process.stderr]) {
  (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => void } })._handle?.setBlocking?.(true);
}

// The runtime is gone (EOF on the channel, even after kill -9): nothing will ever send us work
// again. flexd starts each replica as the leader of its own process group; take along whatever
// the service started.
function leave(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(0); // not a group leader (started by hand): just leave
  }
}

openChannel(function onMessage(message: unknown): void {
  if (!isToReplica(message)) {
    // Its type only: a malformed task could still carry a secret (authKey).
    console.error(`flexd child: ignored an unknown message of type ${JSON.stringify((message as { t?: unknown } | null)?.t)}`);
    return;
  }
  if (message.t === 'start') {
    // From a fresh stack: the service's load-time stacks end in Node's own frames and one of flexd's.
    setImmediate(startService);
  } else if (message.t === 'ping') {
    send({ t: 'pong', id: message.id, rss: process.memoryUsage.rss() });
  } else {
    if (message.aliases) restoreAliases(message.task, message.aliases);
    receiver.runTask(message.id, message.task);
  }
}, leave);

process.on('uncaughtException', (err) => {
  if (receiver.failCurrentTask(err)) {
    console.error(`Uncaught exception in a handler: ${err instanceof Error ? err.stack : String(err)}`);
    return;
  }
  // Not a handler's: the process may be in any state. Say why and let the supervisor replace us.
  console.error(`Uncaught exception: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

// An environment that opted in to strict rejections runs with --unhandled-rejections=throw; a
// listener here would swallow them, so it dies of one as plain Node 20 would.
const strictRejections = process.execArgv.includes('--unhandled-rejections=throw');
process.on('unhandledRejection', (reason) => {
  if (strictRejections) {
    console.error(`Unhandled promise rejection (strict mode): ${reason instanceof Error ? reason.stack : String(reason)}`);
    process.exit(1);
  }
  // --unhandled-rejections=warn already printed the warning (the hosted Node 6–12 behaviour).
  receiver.failCurrentTask(reason);
});

(globalThis as Record<symbol, unknown>)[Symbol.for(RECEIVER_GLOBAL)] = receiver;

/**
 * The project runs when flexd says `start`: at once for a replica started on demand (the message
 * waits in the channel before we read it), later for a spare booted ahead of need.
 */
let started = false;
function startService(): void {
  if (started) return;
  started = true;
  loadService(projectDir!, receiver.describeInstalled);
}
