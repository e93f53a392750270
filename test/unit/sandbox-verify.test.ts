/** gg verify / gg force --check: every thunk runs twice in fresh jails; differing outputs are named. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { verifyRefs } from '../../src/force/verify.js';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { run } from '../helpers/cli.js';
import { jailSuite } from '../helpers/jail-thunks.js';

describe('determinism check', () => {
  const jail = jailSuite();

  it('passes a deterministic graph, running each thunk a second time', async () => {
    const a = jail.p.script('echo a > out; echo side > side', { outputs: ['out', 'side'] });
    const b = jail.p.script('cat in > out; echo b >> out', {
      tools: ['cat'],
      thunks: [{ name: a.name, filename: 'in' }],
    });
    const o = await verifyRefs([b.name], { store: jail.rt.store, engine: jail.rt.engine, jobs: 2 });
    assert.deepEqual(o.differences, []);
    assert.equal(o.errors.size, 0);
    assert.equal(o.checked, 2);
  });

  it('names the nondeterministic thunk and output tag, and only that one', async () => {
    const rand = jail.p.script('echo stable > out; cat /proc/sys/kernel/random/uuid > id', {
      tools: ['cat'],
      outputs: ['out', 'id'],
    });
    const user = jail.p.script('cat in > out', {
      tools: ['cat'],
      thunks: [{ name: rand.output('id'), filename: 'in' }],
    });
    const o = await verifyRefs([user.name], { store: jail.rt.store, engine: jail.rt.engine, jobs: 2 });
    assert.equal(o.checked, 2);
    // The dependant ran twice on the same (first) input, so it agrees with itself: only `rand#id` differs.
    assert.deepEqual(
      o.differences.map((d) => [d.thunk, d.tag]),
      [[rand.name, 'id']],
    );
  });

  it('gg verify and gg force --check exit 1 with GG_E_NONDETERMINISTIC (real CLI)', () => {
    const t = jail.p.script('date +%N > out', { tools: ['date'] });
    const ok = jail.p.script('echo same > out');
    writePlaceholder(path.join(jail.p.dir, 'clock.txt'), t.name);
    writePlaceholder(path.join(jail.p.dir, 'same.txt'), ok.name);
    const v = run(jail.p.dir, ['verify', 'clock.txt', 'same.txt']);
    assert.equal(v.status, 1, v.stderr);
    assert.match(
      v.stderr,
      new RegExp(
        `error\\[GG_E_NONDETERMINISTIC\\]: 1 thunk\\(s\\) gave different outputs when run twice:\\n  ${t.name.replace(/\./g, '\\.')} \\(sh\\) output 'out'`,
      ),
    );
    assert.match(
      fs.readFileSync(path.join(jail.p.dir, 'clock.txt'), 'utf8'),
      /^#!/,
      'verify leaves placeholders alone',
    );
    const f = run(jail.p.dir, ['force', '--check', 'same.txt']);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(fs.readFileSync(path.join(jail.p.dir, 'same.txt'), 'utf8'), 'same\n');
    const c = run(jail.p.dir, ['force', '--check', '--json', 'clock.txt']);
    assert.equal(c.status, 1);
    const summary = JSON.parse(c.stdout) as { check: { checked: number; differences: { tag: string }[] } };
    assert.equal(summary.check.checked, 1);
    assert.deepEqual(
      summary.check.differences.map((d) => d.tag),
      ['out'],
    );
  });
});
