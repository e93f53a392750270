/**
 * Shared caches: a memo entry is followed only when it came from a writer you trust. With a memo key, entries
 * not signed with it (an attacker's `honest thunk -> attacker's thunk`) are ignored and counted; without one,
 * trust is the store's access control. --storage-read-only makes a client that never writes.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { forceAll } from '../../src/force/force.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { REDUCTION_PREFIX } from '../../src/store/redis-store.js';
import { JailProject } from '../helpers/jail-thunks.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { rawThunk } from './helpers.js';

describe('signed memo entries and read-only clients', () => {
  let redis: RunningServer;
  let client: Redis;
  const key = crypto.randomBytes(32);
  const projects: JailProject[] = [];
  const project = (): JailProject => {
    const p = new JailProject();
    projects.push(p);
    return p;
  };
  const open = (p: JailProject, o: { memoKey?: Buffer; readOnly?: boolean } = {}): Promise<Runtime> =>
    openRuntime({
      ggDir: p.ggDir,
      sandbox: 'bwrap',
      storageUri: redis.uri,
      ...(o.memoKey ? { memoKey: o.memoKey } : {}),
      storageReadOnly: o.readOnly ?? false,
    });
  const forceOne = async (rt: Runtime, t: string) => {
    const o = await forceAll([t], { store: rt.store, engine: rt.engine, jobs: 1 });
    assert.equal(o.errors.size, 0, o.errors.get(t)?.message);
    return o;
  };

  before(async () => {
    redis = await startRedis();
    client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await client.connect();
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
    for (const p of projects) p.remove();
  });

  it('a reader with the key uses signed entries, ignores (and counts) a forged one, and writes nothing read-only', async () => {
    // CI: the trusted writer, with the key.
    const ci = project();
    const honest = rawThunk(ci, 'echo honest > out');
    const ciRt = await open(ci, { memoKey: key });
    await forceOne(ciRt, honest);
    await ciRt.close();
    assert.match((await client.get(REDUCTION_PREFIX + honest))!, / ggsig1:/, 'what CI writes is signed');

    // A developer, read-only, with the key: the signed entry is a hit, nothing is written.
    const dev = project();
    for (const o of [honest]) dev.store.putSync(ci.store.getSync(o));
    const keysAtStart = await client.keys('*');
    const devRt = await open(dev, { memoKey: key, readOnly: true });
    const hit = await forceOne(devRt, honest);
    assert.equal(hit.executed, 0);
    assert.equal((await devRt.store.get(hit.results.get(honest)!)).toString(), 'honest\n');

    // An attacker with write access maps a second honest thunk to its own (unsigned, or signed with another key).
    const honest2 = rawThunk(dev, 'echo honest2 > out');
    const evil = rawThunk(dev, 'echo evil > out');
    await client.set(REDUCTION_PREFIX + honest2, evil);
    const keysBefore = [...keysAtStart, REDUCTION_PREFIX + honest2].sort();
    const got = await forceOne(devRt, honest2);
    assert.equal(
      (await devRt.store.get(got.results.get(honest2)!)).toString(),
      'honest2\n',
      'the forged entry was ignored',
    );
    assert.equal(got.executed, 1);
    assert.ok((devRt.remote?.signer.rejected ?? 0) >= 1);
    assert.match(devRt.notices().join('\n'), /ignored \d+ memo entr(y|ies) .* not signed/);
    await devRt.close();
    assert.equal(await client.get(REDUCTION_PREFIX + honest2), evil, 'a read-only client does not repair or overwrite');
    assert.deepEqual((await client.keys('*')).sort(), keysBefore, 'a read-only client wrote nothing');

    // Without a key the store's access control is all there is: the forged entry is followed (documented).
    const naive = project();
    naive.store.putSync(dev.store.getSync(honest2));
    naive.store.putSync(dev.store.getSync(evil));
    const naiveRt = await open(naive, { readOnly: true });
    const followed = await forceOne(naiveRt, honest2);
    assert.equal((await naiveRt.store.get(followed.results.get(honest2)!)).toString(), 'evil\n');
    await naiveRt.close();
  });
});
