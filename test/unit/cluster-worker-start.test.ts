// A worker that starts while the queue's Redis is down (a restart) waits for it and joins, instead of exiting:
// real redis-servers, a real ClusterWorker, the real registry.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ClusterWorker } from '../../src/engine/cluster/cluster-worker.js';
import { listWorkers } from '../../src/engine/cluster/registry.js';
import { startRedis, freePort, type RunningServer } from '../helpers/servers.js';

describe('gg worker start-up', () => {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('waits for a queue Redis that comes up after it starts, then joins', async () => {
    const store: RunningServer = await startRedis();
    cleanups.push(() => store.stop());
    const port = await freePort();
    const queueUri = `redis://127.0.0.1:${port}/0`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-worker-start-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const lines: string[] = [];
    const starting = ClusterWorker.start({
      storageUri: store.uri,
      queueUri,
      jobs: 1,
      cacheDir: path.join(dir, 'cache'),
      cacheBytes: 1 << 20,
      sandbox: 'none',
      id: 'late-queue',
      log: (l) => lines.push(l),
    });
    let settled = false;
    void starting.then(
      () => (settled = true),
      () => (settled = true),
    );
    // The store is up, the queue is not: the worker must still be trying after a while.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(settled, false, `the worker gave up at once: ${lines.join('\n')}`);
    assert.ok(
      lines.some((l) => /cannot reach the cluster's Redis.*trying again/.test(l)),
      `no retry was logged:\n${lines.join('\n')}`,
    );
    const queue: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    cleanups.push(
      () =>
        new Promise((r) => {
          if (queue.exitCode !== null) return r(undefined);
          queue.once('exit', r);
          queue.kill('SIGTERM');
        }),
    );
    const worker = await starting;
    cleanups.push(() => worker.stop(true));
    const list = await listWorkers(queueUri);
    assert.deepEqual(
      list.live.map((w) => w.id),
      ['late-queue'],
    );
  });
});
