/** Finding 7: memo cycles (T -> T, T -> T2 -> T; local or from a shared store) hung gg or crashed it. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forceAll } from '../../src/force/force.js';
import type { Runtime } from '../../src/runtime.js';
import { JailProject } from '../helpers/jail-thunks.js';
import { rawThunk, within } from './helpers.js';

describe('security 7: memo cycles are GG_E_MEMO_CYCLE and their entries are dropped', () => {
  let p: JailProject;
  let rt: Runtime;
  before(async () => {
    p = new JailProject();
    rt = await p.runtime();
  });
  after(async () => {
    await rt.close();
    p.remove();
  });

  const forceWithin = (targets: string[]) =>
    within(10_000, 'forcing a memo cycle', forceAll(targets, { store: rt.store, engine: rt.engine, jobs: 2 }));

  it('T -> T', async () => {
    const t = rawThunk(p, 'echo self > out');
    p.store.putReductionSync(t, t);
    const o = await forceWithin([t]);
    assert.equal(o.errors.get(t)?.code, 'GG_E_MEMO_CYCLE', o.errors.get(t)?.message);
    assert.equal(p.store.getReductionSync(t), undefined, 'the bad entry was dropped');
    const again = await forceWithin([t]);
    assert.equal(again.errors.size, 0, 'the next run recomputes it');
    assert.equal(p.text(again.results.get(t)!), 'self\n');
  });

  it('T -> T2 -> T, forced one at a time and both at once', async () => {
    const a = rawThunk(p, 'echo a > out');
    const b = rawThunk(p, 'echo b > out');
    for (const targets of [[a], [a, b]]) {
      p.store.putReductionSync(a, b);
      p.store.putReductionSync(b, a);
      const o = await forceWithin(targets);
      for (const t of targets)
        assert.equal(o.errors.get(t)?.code, 'GG_E_MEMO_CYCLE', `${t}: ${o.errors.get(t)?.message ?? o.results.get(t)}`);
      assert.ok(
        p.store.getReductionSync(a) === undefined || p.store.getReductionSync(b) === undefined,
        'the loop is broken',
      );
      for (const t of [a, b]) await p.store.deleteReduction?.(t);
    }
  });
});
