/** gg worker / gg workers: argv -> ClusterWorker.start() / listWorkers(). */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { GgError } from '../../errors.js';
import { readMemoKey } from '../../store/memo-signer.js';
import { action, parseIntOption } from '../errors.js';
import { limitsFromFlags, parseByteSize, sandboxFromFlags, storageUriFromFlags } from '../sandbox-flags.js';

interface WorkerOpts {
  storage?: string;
  queue?: string;
  jobs: number;
  cacheDir: string;
  cacheSize: number;
  sandbox: string;
  id?: string;
  timeout: number;
  memoryLimit?: number;
  outputLimit?: number;
  lockDuration: number;
  memoKeyFile?: string;
}

function storageOf(o: { storage?: string }): string {
  const uri = storageUriFromFlags(o);
  if (!uri)
    throw new GgError('GG_E_USAGE', 'a worker needs the shared store', {
      hint: 'gg worker --storage redis://host:port (or set GG_STORAGE_URI)',
    });
  return uri;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run thunks for gg force --engine cluster, from the queue in Redis, until stopped (SIGTERM/Ctrl-C: finish running thunks; twice: cancel them)',
    )
    .option('--storage <uri>', 'the shared store (default: $GG_STORAGE_URI)')
    .option('--queue <uri>', "the queue's Redis, if not the store")
    .option('-j, --jobs <n>', 'thunks run at once', parseIntOption('--jobs'), Math.max(1, os.availableParallelism()))
    .option(
      '--cache-dir <dir>',
      'content-addressed cache of inputs and outputs',
      path.join(os.homedir(), '.cache', 'gg-worker'),
    )
    .option(
      '--cache-size <bytes>',
      'cache size cap (least recently used objects are evicted), e.g. 20G',
      parseByteSize('--cache-size'),
      10 * 1024 ** 3,
    )
    .option('--sandbox <kind>', 'bwrap (default) or none', 'bwrap')
    .option('--id <id>', 'worker id (default: host name and pid)')
    .option('-T, --timeout <ms>', 'default per-thunk timeout in ms', parseIntOption('--timeout'), 0)
    .option('--memory-limit <bytes>', 'per-thunk memory limit', parseByteSize('--memory-limit'))
    .option('--output-limit <bytes>', 'per-thunk output limit', parseByteSize('--output-limit'))
    .option(
      '--lock-duration <ms>',
      "a job's lease; a frozen worker's jobs go back to the queue after it",
      parseIntOption('--lock-duration'),
      10_000,
    )
    .option(
      '--memo-key-file <file>',
      'key for signed memo entries on the shared store: sign what the worker records (default: $GG_MEMO_KEY_FILE)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  gg worker --storage redis://:secret@coord:6379 --jobs 8 --cache-dir /var/cache/gg --cache-size 20G',
    )
    .action(
      action(async (o: WorkerOpts) => {
        const { ClusterWorker } = await import('../../engine/cluster/cluster-worker.js');
        const memoKey = readMemoKey(o.memoKeyFile ?? process.env['GG_MEMO_KEY_FILE']);
        const w = await ClusterWorker.start({
          storageUri: storageOf(o),
          ...(o.queue ? { queueUri: o.queue } : {}),
          jobs: o.jobs,
          cacheDir: path.resolve(o.cacheDir),
          cacheBytes: o.cacheSize,
          sandbox: sandboxFromFlags(o),
          limits: limitsFromFlags(o),
          lockDurationMs: o.lockDuration,
          ...(memoKey ? { memoKey } : {}),
          ...(o.id ? { id: o.id } : {}),
        });
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (): void => {
            if (stopping) {
              process.stderr.write(`gg worker ${w.id}: cancelling running thunks\n`);
              void w.stop(true).then(resolve);
              return;
            }
            stopping = true;
            process.stderr.write(`gg worker ${w.id}: stopping after the running thunks (again to cancel them)\n`);
            void w.stop(false).then(resolve);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        return 0;
      }),
    );

  program
    .command('workers')
    .description('list the live workers of a cluster: host, slots, busy, cache, thunks done, last heartbeat')
    .option('--storage <uri>', 'the shared store, when it holds the queue (default: $GG_STORAGE_URI)')
    .option('--queue <uri>', "the queue's Redis")
    .option('--json', 'one JSON object on stdout')
    .action(
      action(async (o: { storage?: string; queue?: string; json?: boolean }) => {
        const { listWorkers } = await import('../../engine/cluster/registry.js');
        const list = await listWorkers(o.queue ?? storageOf(o));
        if (o.json) {
          process.stdout.write(JSON.stringify(list) + '\n');
          return 0;
        }
        const now = Date.now();
        const gib = (b: number): string => `${(b / 1024 ** 3).toFixed(2)}G`;
        const rows = [['WORKER', 'HOST', 'SLOTS', 'BUSY', 'CACHE', 'DONE', 'FAILED', 'REJECTED', 'HEARTBEAT']];
        for (const w of [...list.live, ...list.silent]) {
          const age = `${((now - w.heartbeat) / 1000).toFixed(1)}s ago${list.silent.includes(w) ? ' (silent)' : ''}`;
          rows.push([
            w.id,
            w.host,
            String(w.slots),
            String(w.busy),
            `${gib(w.cacheBytes)}/${gib(w.cacheMax)}`,
            String(w.done),
            String(w.failed),
            String(w.rejected),
            age,
          ]);
        }
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows)
          process.stdout.write(
            r
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd() + '\n',
          );
        process.stdout.write(
          `${list.live.length} live worker(s), ${list.live.reduce((a, w) => a + w.slots, 0)} slots${list.silent.length ? `, ${list.silent.length} silent` : ''}\n`,
        );
        return 0;
      }),
    );
}
