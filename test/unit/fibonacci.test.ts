/** The dynamic-graph example: fib(20) as thunks that output thunks, written with the SDK. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { writeFib } from '../../examples/fibonacci/make-fib.js';
import { LocalStore } from '../../src/store/local-store.js';
import { project, run } from '../helpers/cli.js';

it('forces fib(20) to 6765, then again from the memo without running anything', () => {
  const dir = project();
  const store = new LocalStore(path.join(dir, '.gg'));
  const name = writeFib(store, 20);
  store.hashCache.flush();
  const r = run(dir, ['force', '--json', '-j', '2', name]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { executed: number; targets: { result: string }[] };
  assert.equal(fs.readFileSync(path.join(dir, '.gg/blobs', summary.targets[0]!.result), 'utf8'), '6765');
  // 21 distinct fib thunks (0..20) and 19 add thunks: shared sub-results are computed once.
  assert.equal(summary.executed, 40);
  const again = JSON.parse(run(dir, ['force', '--json', name]).stdout) as {
    executed: number;
    targets: { result: string }[];
  };
  assert.equal(again.executed, 0);
  assert.equal(again.targets[0]!.result, summary.targets[0]!.result);
});
