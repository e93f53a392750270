/** Finding 5: one thunk's stdout was readable by the next one in the same slot (/proc/self/fd/1, a reused log). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forceAll } from '../../src/force/force.js';
import { jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

describe('security 5: a fresh stdout/stderr per thunk run', () => {
  const jail = jailSuite();

  it('a later thunk in the same slot cannot read what an earlier one printed', async () => {
    const first = rawThunk(jail.p, 'echo SECRET-OF-THE-FIRST-THUNK; echo SECRET-ON-STDERR >&2; echo 1 > out');
    // $$ is the shell, whose fd 1 is the run's log (inside the jail).
    const second = rawThunk(
      jail.p,
      'cat /proc/$$/fd/1 > out 2>/dev/null; cat /proc/$$/fd/2 >> out 2>/dev/null; wc -c < /proc/$$/fd/2 >> out 2>/dev/null; echo end >> out',
      { tools: ['cat', 'wc'] },
    );
    for (const t of [first, second]) {
      const o = await forceAll([t], { store: jail.rt.store, engine: jail.rt.engine, jobs: 1 });
      assert.equal(o.errors.size, 0, [...o.errors.values()].map((e) => e.message).join());
    }
    const out = jail.p.text((await jail.rt.store.getReduction(second))!);
    assert.doesNotMatch(out, /SECRET/);
    assert.match(out, /^(0\n)?end\n$/, out);
  });
});
