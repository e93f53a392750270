/**
 * Early notices (protocol.ts earlyChannel): a worker starts a job announced to it before BullMQ hands the job
 * over, and BullMQ's delivery joins that run. A real Redis and a real `gg worker` (ClusterWorker); the notices
 * and jobs are written here by hand, as a client (or someone hostile) would.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { ClusterWorker } from '../../src/engine/cluster/cluster-worker.js';
import {
  PREFIX,
  earlyChannel,
  parseEarlyNotice,
  resultsChannel,
  unpackMessages,
  workerQueue,
  type JobData,
} from '../../src/engine/cluster/protocol.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { project, tempDir } from '../helpers/cli.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) {
    const v = await f();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('early notices', () => {
  let redis: RunningServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('refuses malformed notices as it refuses malformed jobs', () => {
    const data: JobData = { v: 2, thunks: ['T'.padEnd(52, 'x')], client: 'c1' };
    for (const bad of [
      'not json',
      '[]',
      JSON.stringify({ job: 'j1' }),
      JSON.stringify({ job: 'j1', data, extra: 1 }),
      JSON.stringify({ job: '../j1', data: { v: 2, thunks: [], client: 'c1' } }),
      JSON.stringify({ job: 'j1', data: { ...data, thunks: ['not a thunk'] } }),
      JSON.stringify({ job: 'a'.repeat(65), data }),
    ])
      assert.throws(() => parseEarlyNotice(bad), { code: 'GG_E_JOB_INVALID' }, bad);
  });

  it('starts an announced job at once; BullMQ delivering it joins the run (one run), a job unlike its notice runs as given', async () => {
    const dir = project();
    const runs = path.join(tempDir(), 'runs');
    const s = new ShellThunks(dir);
    // Each run leaves a line behind (sandbox none): how many times the thunk really ran.
    const a = s.script(`echo a >> ${runs}; echo A > out`);
    const b = s.script(`echo b >> ${runs}; echo B > out`);
    s.close();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    for (const name of fs.readdirSync(path.join(dir, '.gg/blobs')))
      await store.putFile(path.join(dir, '.gg/blobs', name), name);
    const log: string[] = [];
    const worker = await ClusterWorker.start({
      storageUri: redis.uri,
      jobs: 2,
      cacheDir: tempDir(),
      cacheBytes: 1 << 30,
      sandbox: 'none',
      id: 'early',
      log: (l) => log.push(l),
    });
    const pub = new Redis(redis.uri);
    const sub = new Redis(redis.uri);
    const queue = new Queue(workerQueue('early'), {
      connection: { host: '127.0.0.1', port: redis.port },
      prefix: PREFIX,
    });
    const heard: { t: string; job: string; result?: { outputs: { name: string }[] } }[] = [];
    try {
      await sub.subscribe(resultsChannel('ctest'));
      sub.on('message', (_ch: string, p: string) => heard.push(...(unpackMessages(p) as typeof heard)));
      const ran = (): string[] =>
        fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').split('\n').filter(Boolean) : [];

      // Hostile notices are counted and logged; the worker carries on.
      await pub.publish(earlyChannel('early'), 'garbage');
      await pub.publish(
        earlyChannel('early'),
        JSON.stringify({ job: 'x1', data: { v: 2, thunks: ['nope'], client: 'ctest' } }),
      );
      await until('the rejections', () => (worker.stats.rejected === 2 ? true : undefined));
      assert.equal(log.filter((l) => /early notice: rejected a malformed job/.test(l)).length, 2);

      // A notice alone: the job runs (no BullMQ job exists yet) and its outcome reaches the client.
      const dataA: JobData = { v: 2, thunks: [a.name], client: 'ctest' };
      await pub.publish(earlyChannel('early'), JSON.stringify({ job: 'ctest-1', data: dataA }));
      const done = await until('the early run', () => heard.find((m) => m.t === 'done' && m.job === 'ctest-1'));
      assert.deepEqual(ran(), ['a']);
      // BullMQ hands the job over later: it completes with the early run's outcome, without a second run.
      const jobA = await queue.add('thunks', dataA, { jobId: 'ctest-1', attempts: 1 });
      const valueA = await until('job 1 to complete', async () =>
        (await queue.getJobState('ctest-1')) === 'completed'
          ? ((await queue.getJob(jobA.id!))?.returnvalue as unknown)
          : undefined,
      );
      assert.deepEqual(
        (valueA as { result: { outputs: unknown } }[])[0]!.result.outputs,
        done.result!.outputs,
        'the job returns the early run',
      );
      assert.deepEqual(ran(), ['a'], 'ran once');
      // A notice for a job this worker already ran is ignored.
      await pub.publish(earlyChannel('early'), JSON.stringify({ job: 'ctest-1', data: dataA }));

      // A notice naming another thunk than the job (hostile): BullMQ's job is what runs and is reported.
      await pub.publish(
        earlyChannel('early'),
        JSON.stringify({ job: 'ctest-2', data: { v: 2, thunks: [a.name], client: 'ctest' } }),
      );
      await until('the bogus early run', () => heard.find((m) => m.t === 'done' && m.job === 'ctest-2'));
      await queue.add('thunks', { v: 2, thunks: [b.name], client: 'ctest' }, { jobId: 'ctest-2', attempts: 1 });
      const valueB = await until('job 2 to complete', async () =>
        (await queue.getJobState('ctest-2')) === 'completed'
          ? ((await queue.getJob('ctest-2'))?.returnvalue as unknown)
          : undefined,
      );
      const outB = (valueB as { result: { outputs: { name: string }[] } }[])[0]!.result.outputs[0]!.name;
      assert.equal((await store.get(outB)).toString(), 'B\n');
      assert.equal(await store.getReduction(b.name), outB);
      assert.ok(log.some((l) => /ctest-2: its early notice did not match/.test(l)));
      await sleep(200);
      assert.deepEqual(ran().sort(), ['a', 'a', 'b'], 'the second a: the memo answered it, it was not recorded');
    } finally {
      await queue.close();
      pub.disconnect();
      sub.disconnect();
      await worker.stop();
      await store.close();
    }
  });
});
