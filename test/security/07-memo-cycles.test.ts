/** Finding 7: memo cycles (T -> T, T -> T2 -> T; local or from a shared store) hung gg or crashed it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forceAll } from '../../src/force/force.js';
import { jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk, within } from './helpers.js';

describe('security 7: memo cycles are GG_E_MEMO_CYCLE and their entries are dropped', () => {
  const jail = jailSuite();

  const forceWithin = (targets: string[]) =>
    within(
      10_000,
      'forcing a memo cycle',
      forceAll(targets, { store: jail.rt.store, engine: jail.rt.engine, jobs: 2 }),
    );

  it('T -> T', async () => {
    const t = rawThunk(jail.p, 'echo self > out');
    jail.p.store.putReductionSync(t, t);
    const o = await forceWithin([t]);
    assert.equal(o.errors.get(t)?.code, 'GG_E_MEMO_CYCLE', o.errors.get(t)?.message);
    assert.equal(jail.p.store.getReductionSync(t), undefined, 'the bad entry was dropped');
    const again = await forceWithin([t]);
    assert.equal(again.errors.size, 0, 'the next run recomputes it');
    assert.equal(jail.p.text(again.results.get(t)!), 'self\n');
  });

  it('T -> T2 -> T, forced one at a time and both at once', async () => {
    const a = rawThunk(jail.p, 'echo a > out');
    const b = rawThunk(jail.p, 'echo b > out');
    for (const targets of [[a], [a, b]]) {
      jail.p.store.putReductionSync(a, b);
      jail.p.store.putReductionSync(b, a);
      const o = await forceWithin(targets);
      for (const t of targets)
        assert.equal(o.errors.get(t)?.code, 'GG_E_MEMO_CYCLE', `${t}: ${o.errors.get(t)?.message ?? o.results.get(t)}`);
      assert.ok(
        jail.p.store.getReductionSync(a) === undefined || jail.p.store.getReductionSync(b) === undefined,
        'the loop is broken',
      );
      for (const t of [a, b]) await jail.p.store.deleteReduction?.(t);
    }
  });
});
