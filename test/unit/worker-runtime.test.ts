/**
 * The shared worker runtime over a real Redis store: inputs fetched into a size-capped LRU cache, outputs
 * uploaded, memo recorded with the first result winning; a cluster worker's early notices (a job started before
 * BullMQ hands it over, then joined); and straggler speculation in the scheduler.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { LocalEngine } from '../../src/engine/local-engine.js';
import { WorkerRuntime } from '../../src/engine/worker-runtime.js';
import { ClusterEngine } from '../../src/engine/cluster/cluster-engine.js';
import { ClusterWorker } from '../../src/engine/cluster/cluster-worker.js';
import { decodeThunk } from '../../src/ir/thunk.js';
import type { Engine, ExecuteOptions } from '../../src/engine/engine.js';
import { forceAll } from '../../src/force/force.js';
import { computeName, joinTag } from '../../src/ir/name.js';
import {
  PREFIX,
  earlyChannel,
  parseEarlyNotice,
  parseJobData,
  resultsChannel,
  thunkBytes,
  unpackMessages,
  workerQueue,
  type JobData,
} from '../../src/engine/cluster/protocol.js';
import type { Thunk } from '../../src/ir/thunk.js';
import { NoSandbox } from '../../src/sandbox/no-sandbox.js';
import { LocalStore } from '../../src/store/local-store.js';
import { MemoSigner } from '../../src/store/memo-signer.js';
import { openStore } from '../../src/store/open-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { WorkerCache } from '../../src/store/worker-cache.js';
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

/** Every blob of the project's local store into `store` (what a client uploads before workers run). */
/** A cluster worker on `uri` for these tests: no jail, a 1 GiB cache (a fresh one unless given), silent unless `log`. */
function startWorker(
  uri: string,
  o: { id: string; jobs: number; cacheDir?: string; log?: (line: string) => void },
): Promise<ClusterWorker> {
  return ClusterWorker.start({
    storageUri: uri,
    jobs: o.jobs,
    cacheDir: o.cacheDir ?? tempDir(),
    cacheBytes: 1 << 30,
    sandbox: 'none',
    id: o.id,
    log: o.log ?? (() => undefined),
  });
}

async function uploadBlobs(dir: string, store: Store): Promise<void> {
  for (const name of fs.readdirSync(path.join(dir, '.gg/blobs')))
    await store.putFile(path.join(dir, '.gg/blobs', name), name);
}

/** A worker cache directory that already holds these blobs of the project (from an "earlier life"). */
async function cacheHolding(dir: string, names: string[]): Promise<string> {
  const cacheDir = tempDir();
  const earlier = new WorkerCache(cacheDir, { maxBytes: 1 << 30 });
  for (const name of names) {
    const tmp = earlier.tempPath();
    fs.copyFileSync(path.join(dir, '.gg/blobs', name), tmp);
    earlier.adoptFile(tmp, name);
  }
  await earlier.close();
  return cacheDir;
}

describe('WorkerCache', () => {
  it('evicts least-recently-used objects past its size, never pinned ones, and keeps its contents across restarts', () => {
    const dir = tempDir();
    const cache = new WorkerCache(dir, { maxBytes: 3000 });
    const put = (fill: string): string => {
      const tmp = cache.tempPath();
      fs.writeFileSync(tmp, fill.repeat(1000));
      return cache.adoptFile(tmp).name;
    };
    const a = put('a');
    const b = put('b');
    cache.pin([a]);
    const c = put('c');
    cache.verifiedBlobPath(b); // b is now more recently used than c
    const d = put('d'); // over 3000 bytes: the oldest unpinned (c) goes, a is pinned
    assert.deepEqual(
      [a, b, c, d].map((n) => cache.hasSync(n)),
      [true, true, false, true],
    );
    cache.unpin([a]); // still 3000 bytes: fits, nothing more to evict
    assert.equal(cache.bytes, 3000);
    const e = put('e'); // now a (least recently used, unpinned) goes
    assert.deepEqual(
      [a, b, d, e].map((n) => cache.hasSync(n)),
      [false, true, true, true],
    );
    const again = new WorkerCache(dir, { maxBytes: 3000 });
    assert.equal(again.count, 3);
    assert.equal(again.bytes, 3000);
  });
});

describe('WorkerRuntime over a Redis store', () => {
  let redis: RunningServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('fetches inputs into its cache, uploads outputs, records the memo; a second run of the thunk reports the first result', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const input = s.g.value(Buffer.from('payload\n'));
    // Nondeterministic on purpose: two runs differ, yet everyone must see one answer.
    const t = s.script('cat in > out; date +%s%N >> out', { values: [{ name: input, filename: 'in' }] });
    s.close();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    await uploadBlobs(dir, store);

    const runOn = async (cacheDir: string) => {
      const cache = new WorkerCache(cacheDir, { maxBytes: 1 << 30 });
      const rt = new WorkerRuntime({ cache, sandbox: new NoSandbox(cache.hashCache), source: store, publish: store });
      try {
        return { r: await rt.runNamed(t.name), cache };
      } finally {
        await rt.close();
      }
    };
    const first = await runOn(tempDir());
    assert.ok(first.r.stats.bytesFetched > 0);
    assert.ok(first.r.stats.fetched.includes(input));
    assert.ok(first.cache.hasSync(input), 'the input stays cached');
    const out = first.r.outputs[0]!.name;
    assert.match((await store.get(out)).toString(), /^payload\n\d+\n$/);
    assert.equal(await store.getReduction(t.name), out);
    assert.equal(await store.getReduction(joinTag(t.name, 'out')), out);

    const second = await runOn(tempDir());
    assert.equal(second.r.outputs[0]!.name, out, 'the later run reports the recorded result, not its own');
    assert.equal(await store.getReduction(t.name), out);
    await store.close();
  });

  it('a worker advertises the cache it starts with: a new client places a thunk on it at once', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const big = s.g.value(Buffer.alloc(200 * 1024, 'x'));
    const t = s.script('wc -c < in > out', { values: [{ name: big, filename: 'in' }] });
    s.close();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    await uploadBlobs(dir, store);
    // The worker's cache holds the big input (and the shell) from an earlier life.
    const cacheDir = await cacheHolding(dir, [big, s.sh]);
    const worker = await startWorker(redis.uri, { id: 'advertiser', jobs: 1, cacheDir });
    const engine = await ClusterEngine.open({ queueUri: redis.uri });
    try {
      const r = await engine.execute(t.name, decodeThunk(await store.get(t.name)));
      assert.equal(engine.report.placed, 1, 'placed on the worker that advertised the input');
      assert.equal(r.worker, 'advertiser');
      assert.ok(!r.stats!.fetched.includes(big), 'the big input was not fetched again');
      assert.equal((await store.get(r.outputs[0]!.name)).toString().trim(), String(200 * 1024));
    } finally {
      await engine.close();
      await worker.stop();
      await store.close();
    }
  });

  it('with a deep backlog, places jobs of several thunks on the worker holding their inputs, up to its share', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const big = s.g.value(Buffer.alloc(200 * 1024, 'y'));
    const ts = Array.from({ length: 12 }, (_, i) =>
      s.script(`wc -c < in > out; echo ${i} >> out`, { values: [{ name: big, filename: 'in' }] }),
    );
    s.close();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    await uploadBlobs(dir, store);
    const cacheDir = await cacheHolding(dir, [big, s.sh]);
    const holder = await startWorker(redis.uri, { id: 'holder', jobs: 1, cacheDir });
    const other = await startWorker(redis.uri, { id: 'other', jobs: 1 });
    const engine = await ClusterEngine.open({ queueUri: redis.uri });
    try {
      // 12 runs on 2 slots: jobs of 6. One run is placed at once (the holder's slot is free); 5 more fill the
      // holder's share (1 slot x 6) in one job on its queue; the other 6 go to the shared queue.
      const bytes = await Promise.all(ts.map((t) => store.get(t.name)));
      const rs = await Promise.all(ts.map((t, i) => engine.execute(t.name, decodeThunk(bytes[i]!))));
      assert.equal(engine.report.placed, 6);
      assert.equal(engine.report.jobs, 3);
      assert.ok(rs.filter((r) => r.worker === 'holder').length >= 6);
      for (const r of rs.filter((x) => x.worker === 'holder')) assert.ok(!r.stats!.fetched.includes(big));
    } finally {
      await engine.close();
      await Promise.all([holder.stop(), other.stop()]);
      await store.close();
    }
  });

  it('signs memo entries with the memo key: a keyed reader takes them, a forged unsigned entry is replaced', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const input = s.g.value(Buffer.from('payload\n'));
    const t = s.script('cat in > out; date +%s%N >> out', { values: [{ name: input, filename: 'in' }] });
    s.close();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    await uploadBlobs(dir, store);
    // Someone without the key recorded an answer first: not a result for keyed readers.
    await store.putReduction(t.name, input);
    await store.putReduction(joinTag(t.name, 'out'), input);
    const key = Buffer.alloc(32, 7);
    const runOn = async (signer: MemoSigner) => {
      const cache = new WorkerCache(tempDir(), { maxBytes: 1 << 30 });
      const rt = new WorkerRuntime({
        cache,
        sandbox: new NoSandbox(cache.hashCache),
        source: store,
        publish: store,
        signer,
      });
      try {
        return await rt.runNamed(t.name);
      } finally {
        await rt.close();
      }
    };
    const first = await runOn(new MemoSigner(key));
    const out = first.outputs[0]!.name;
    assert.notEqual(out, input, 'the forged entry is not taken as the result');
    const raw = (await store.getReductions([t.name, joinTag(t.name, 'out')])) as string[];
    for (const [i, ref] of [t.name, joinTag(t.name, 'out')].entries()) {
      assert.match(raw[i]!, / ggsig1:/, 'the entry is signed');
      assert.equal(new MemoSigner(key).open(ref, raw[i]), out);
    }
    // A reader holding the key takes the worker's entry (through the same TieredStore gg force uses).
    const reader = await openStore(redis.uri, new LocalStore(path.join(project(), '.gg')), { memoKey: key });
    assert.equal(await reader.getReduction(t.name), out);
    await reader.close();
    // Later runs, keyed or not, report the recorded result.
    assert.equal((await runOn(new MemoSigner(key))).outputs[0]!.name, out);
    assert.equal((await runOn(new MemoSigner(undefined))).outputs[0]!.name, out);
    await store.close();
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
    await uploadBlobs(dir, store);
    const log: string[] = [];
    const worker = await startWorker(redis.uri, { id: 'early', jobs: 2, log: (l) => log.push(l) });
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

describe('cluster engine and scheduler', () => {
  let redis: RunningServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it("records each memo entry once (the worker's); a client holding the memo key signs what an unkeyed worker recorded", async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const leaves = [1, 2, 3].map((i) => s.script(`echo leaf-${i}-$$ > out`).name);
    s.close();
    const remote = RedisStore.fromUri(redis.uri);
    await uploadBlobs(dir, remote);
    const worker = await startWorker(redis.uri, { id: 'unkeyed', jobs: 2 });
    const key = Buffer.alloc(32, 9);
    try {
      for (const memoKey of [undefined, key]) {
        const store = await openStore(redis.uri, new LocalStore(path.join(dir, '.gg')), memoKey ? { memoKey } : {});
        // Every memo write of the scheduler goes through putReduction(s): count them.
        let writes = 0;
        const counted = new Proxy(store, {
          get(target, prop, receiver) {
            const v = Reflect.get(target, prop, receiver) as unknown;
            if ((prop === 'putReduction' || prop === 'putReductions') && typeof v === 'function')
              return (...a: unknown[]) => (writes++, (v as (...x: unknown[]) => unknown).apply(target, a));
            return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
          },
        });
        const engine = await ClusterEngine.open({ queueUri: redis.uri });
        for (const t of leaves) await remote.deleteReduction(t);
        try {
          const out = await forceAll(leaves, { store: counted, engine, jobs: 4 });
          assert.equal(out.errors.size, 0, [...out.errors.values()].map((e) => e.message).join('\n'));
          assert.equal(out.executed, 3);
          assert.equal(writes, 0, 'the scheduler did not write again what the worker recorded');
          const raw = (await remote.getReductions(leaves)) as string[];
          for (const [i, t] of leaves.entries()) {
            if (memoKey) assert.equal(new MemoSigner(key).open(t, raw[i]), out.results.get(t), 'signed by the client');
            else assert.equal(raw[i], out.results.get(t), "the worker's unsigned entry");
          }
        } finally {
          await engine.close();
          await store.close();
        }
      }
    } finally {
      await worker.stop();
      await remote.close();
    }
  });
});

describe('cluster job payloads', () => {
  it('takes inline thunk bytes only when they are the named thunk; refuses malformed batches', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo a > out');
    const b = s.script('echo b > out');
    s.close();
    const bytes = (t: { name: string }): string =>
      fs.readFileSync(new LocalStore(path.join(dir, '.gg')).blobPath(t.name)).toString('base64');
    const job = parseJobData({ v: 2, thunks: [a.name, b.name], client: 'c1', data: [bytes(a), null] });
    assert.equal(computeName(thunkBytes(job, 0)!), a.name);
    assert.equal(thunkBytes(job, 1), undefined, 'null: fetched from the store');
    // b's bytes under a's name: refused, for that thunk.
    const swapped = parseJobData({ v: 2, thunks: [a.name], client: 'c1', data: [bytes(b)] });
    assert.throws(() => thunkBytes(swapped, 0), /GG_E_JOB_INVALID|not that thunk/);
    for (const bad of [
      { v: 2, thunks: [a.name, a.name], client: 'c1' },
      { v: 2, thunks: [], client: 'c1' },
      { v: 2, thunks: Array(9).fill(a.name), client: 'c1' },
      { v: 2, thunks: [a.name], client: 'c1', data: [] },
      { v: 2, thunks: [a.name], client: 'c1', data: ['not base64!'] },
      { v: 2, thunks: [a.name], client: 'c1', data: ['A'.repeat(8000)] },
      { v: 1, thunk: a.name, client: 'c1' },
    ])
      assert.throws(() => parseJobData(bad), /rejected a malformed job/, JSON.stringify(bad).slice(0, 80));
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
});

/** The real local engine, with the first run of each thunk held back like a frozen worker's. */
function withStraggler(inner: Engine, holdMs: number, only?: string): Engine & { calls: number } {
  const seen = new Set<string>();
  if (only !== undefined) seen.add('*');
  const e = {
    name: 'straggling',
    speculative: true,
    calls: 0,
    async execute(name: string, thunk: Thunk, opts: ExecuteOptions = {}) {
      e.calls++;
      const straggles = !seen.has(name) && (only === undefined || only === name);
      opts.onStarted?.(straggles ? 'w1' : 'w2');
      if (straggles) {
        seen.add(name);
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, holdMs);
          opts.abort?.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('cancelled'));
          });
        });
      }
      return inner.execute(name, thunk, opts);
    },
    close: () => inner.close(),
  };
  return e;
}

describe('speculation', () => {
  it("duplicates a thunk past its timeout hint; the duplicate's result wins and the original is cancelled", async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('echo fast > out', { timeoutMs: 2000 });
    s.close();
    const engine = withStraggler(new LocalEngine(s.store, new NoSandbox(s.store.hashCache)), 30_000);
    const started = performance.now();
    const r = await forceAll([t.name], { store: s.store, engine, jobs: 2, speculation: { minMs: 100 } });
    const ms = performance.now() - started;
    assert.deepEqual(
      [...r.errors.values()].map((e) => e.message),
      [],
    );
    assert.equal(s.store.getSync(r.results.get(t.name)!).toString(), 'fast\n');
    assert.equal(r.speculation.duplicates, 1);
    assert.equal(r.speculation.won, 1);
    assert.ok(ms < 10_000, `took ${ms} ms: the straggler was waited for`);
    assert.equal(engine.calls, 2);
    // Without speculation the same straggler is waited for.
    const slow = s.script('echo slow > out', { timeoutMs: 2000 });
    const off = await forceAll([slow.name], {
      store: s.store,
      engine: withStraggler(new LocalEngine(s.store, new NoSandbox(s.store.hashCache)), 1500),
      jobs: 2,
      speculation: false,
    });
    assert.equal(off.speculation.duplicates, 0);
    assert.ok(off.wallMs >= 1500);
  });

  it("learns a function's median: a run past k x median is duplicated even without a hint", async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const ts = [1, 2, 3, 4].map((i) => s.script(`echo ${i} > out`));
    s.close();
    // One at a time: the first three set the median, the fourth straggles.
    const engine = withStraggler(new LocalEngine(s.store, new NoSandbox(s.store.hashCache)), 30_000, ts[3]!.name);
    const r = await forceAll(
      ts.map((t) => t.name),
      { store: s.store, engine, jobs: 1, speculation: { minMs: 50 } },
    );
    assert.equal(r.errors.size, 0);
    assert.equal(r.speculation.duplicates, 1);
    assert.equal(r.speculation.won, 1);
    assert.equal(s.store.getSync(r.results.get(ts[3]!.name)!).toString(), '4\n');
    assert.ok(r.wallMs < 10_000);
  });
});
