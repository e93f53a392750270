/**
 * TieredStore.putReductions against a real redis-server: a thunk's memo entries written at once, each distinct
 * result object checked (and uploaded) once and before any entry naming it, signed when a key is given, never
 * written to the remote when read-only; the local entries hard-linked. Two `.gg` dirs are two machines.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { computeName } from '../../src/ir/name.js';
import { MemoSigner } from '../../src/store/memo-signer.js';
import { openRemoteStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { TieredStore } from '../../src/store/tiered-store.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { cleanupTemps, tempLocalStore } from '../helpers/store-fixtures.js';

/** The real remote, with each call it receives written down (method and first argument) in order. */
function recorded(remote: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const store = new Proxy(remote, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const first = args[0];
        calls.push(
          `${String(prop)} ${Array.isArray(first) ? first.join(',') : typeof first === 'string' ? first : ''}`,
        );
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

const T = (s: string): string => computeName(Buffer.from(`##GGTHUNK##${s}`));

describe('TieredStore.putReductions (real redis-server)', () => {
  let server: RunningServer;
  const opened: Store[] = [];
  const remote = async (): Promise<Store> => {
    const s = await openRemoteStore(server.uri);
    opened.push(s);
    return s;
  };
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const s of opened) await s.close();
    await server.stop();
    cleanupTemps();
  });

  it('uploads each result object once, before the first entry naming it; another machine then uses the entries', async () => {
    const a = tempLocalStore();
    const out = a.putSync(Buffer.from('first output\n')).name;
    const side = a.putSync(Buffer.from('second output\n')).name;
    const t = T('compile');
    const u = T('compile, rewritten');
    const { store: rec, calls } = recorded(await remote());
    const tiered = new TieredStore(a, rec);
    await tiered.putReductions([
      [t, out],
      [u, out],
      [`${t}#side`, side],
      [`${u}#side`, side],
    ]);
    const memoAt = calls.findIndex((c) => c.startsWith('putReduction'));
    const uploads = calls.slice(0, memoAt);
    assert.equal(
      calls.filter((c) => c.startsWith('hasMany')).length,
      1,
      `one existence check for both objects: ${calls.join(' | ')}`,
    );
    const isUpload = (c: string): boolean => /^put(File)? /.test(c);
    assert.equal(uploads.filter(isUpload).length, 2, `both objects uploaded, each once: ${calls.join(' | ')}`);
    assert.ok(memoAt > 0 && calls.slice(memoAt).every((c) => c.startsWith('putReduction')), 'no upload after an entry');
    // Locally: one file per result.
    const ino = (ref: string): number => fs.statSync(path.join(a.reductionsDir, ref)).ino;
    assert.equal(ino(t), ino(u));
    assert.equal(ino(`${t}#side`), ino(`${u}#side`));
    // Machine B, empty .gg: every entry is a hit whose object it can fetch.
    const b = new TieredStore(tempLocalStore(), await remote());
    assert.deepEqual(await b.getReductions([t, u, `${t}#side`, `${u}#side`]), [out, out, side, side]);
    assert.equal((await b.get(side)).toString(), 'second output\n');
    // A second write of the same entries uploads nothing new.
    calls.length = 0;
    await tiered.putReductions([[t, out]]);
    assert.equal(calls.filter(isUpload).length, 0, calls.join(' | '));
  });

  it('signs entries with a key: readers with the key use them, readers with another key ignore them', async () => {
    const key = Buffer.alloc(32, 7);
    const a = tempLocalStore();
    const out = a.putSync(Buffer.from('signed output\n')).name;
    const t = T('signed');
    await new TieredStore(a, await remote(), { signer: new MemoSigner(key) }).putReductions([[t, out]]);
    const raw = await (await remote()).getReduction(t);
    assert.match(raw ?? '', / ggsig1:/, 'stored with its signature');
    const withKey = new TieredStore(tempLocalStore(), await remote(), { signer: new MemoSigner(key) });
    assert.equal(await withKey.getReduction(t), out);
    const otherSigner = new MemoSigner(Buffer.alloc(32, 8));
    const otherKey = new TieredStore(tempLocalStore(), await remote(), { signer: otherSigner });
    assert.equal(await otherKey.getReduction(t), undefined);
    assert.equal(otherSigner.rejected, 1);
  });

  it('read-only: the entries are recorded locally, nothing reaches the remote', async () => {
    const a = tempLocalStore();
    const out = a.putSync(Buffer.from('read-only output\n')).name;
    const t = T('read-only');
    const { store: rec, calls } = recorded(await remote());
    await new TieredStore(a, rec, { readOnly: true }).putReductions([
      [t, out],
      [`${t}#x`, out],
    ]);
    assert.equal(a.getReductionSync(t), out);
    assert.equal(a.getReductionSync(`${t}#x`), out);
    assert.deepEqual(calls, [], 'not one call to the remote');
    const check = await remote();
    assert.equal(await check.getReduction(t), undefined);
    assert.equal(await check.has(out), false);
  });
});
