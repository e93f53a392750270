/**
 * The shared worker runtime over a real Redis store: inputs fetched into a size-capped LRU cache, outputs
 * uploaded, memo recorded with the first result winning; and straggler speculation in the scheduler.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalEngine } from '../../src/engine/local-engine.js';
import { WorkerRuntime } from '../../src/engine/worker-runtime.js';
import type { Engine, ExecuteOptions } from '../../src/engine/engine.js';
import { forceAll } from '../../src/force/force.js';
import { joinTag } from '../../src/ir/name.js';
import type { Thunk } from '../../src/ir/thunk.js';
import { NoSandbox } from '../../src/sandbox/no-sandbox.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { WorkerCache, parseByteSize } from '../../src/store/worker-cache.js';
import { project, tempDir } from '../helpers/cli.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

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
    assert.equal(parseByteSize('20G'), 20 * 1024 ** 3);
    assert.equal(parseByteSize('512m'), 512 * 1024 ** 2);
    assert.throws(() => parseByteSize('lots'), /GG_E_USAGE|not a size/);
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
    for (const name of fs.readdirSync(path.join(dir, '.gg/blobs')))
      await store.putFile(path.join(dir, '.gg/blobs', name), name);

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
