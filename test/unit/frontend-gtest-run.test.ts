/**
 * gg test gtest's machinery in the real jail, driven by a small stand-in for a Google Test binary (a shell
 * script that answers --gtest_list_tests and --gtest_filter as gtest does): --data directories, sharding
 * options, memoization keyed on data, hostile listings. Real googletest runs in test/e2e/frontends.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { project, run } from '../helpers/cli.js';

const FAKE = (data: string): string => `#!/bin/sh
filter=
for a in "$@"; do
  case $a in
    --gtest_list_tests) printf 'Running main() from a stand-in\\nData.\\n  Reads\\n  Missing\\nMore.\\n  Passes\\n'; exit 0;;
    --gtest_filter=*) filter=\${a#--gtest_filter=};;
  esac
done
echo "[ RUN      ] $filter"
case $filter in
  Data.Reads) read v < ${data}/expected; [ "$v" = yes ] && { echo "[       OK ] $filter (2 ms)"; exit 0; }
              echo "expected yes, read $v"; echo "[  FAILED  ] $filter (2 ms)"; exit 1;;
  Data.Missing) read v < ${data}/absent || { echo "[  FAILED  ] $filter (0 ms)"; exit 1; };;
  More.Passes) echo "[       OK ] $filter (1 ms)"; exit 0;;
esac
exit 3
`;

interface Json {
  counts: Record<string, number>;
  binaries: { shards: number; shards_run: number }[];
  cases: { name: string; status: string }[];
  executed: number;
}

describe('gg test gtest with a stand-in binary', () => {
  let dir: string;
  let data: string;
  before(() => {
    dir = project();
    data = path.join(dir, 'testdata');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'expected'), 'yes\n');
    fs.writeFileSync(path.join(dir, 'fake_test'), FAKE(data), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'bad_test'), "#!/bin/sh\nprintf 'S.\\n  a;rm\\n'\n", { mode: 0o755 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gtest = (...args: string[]): { status: number | null; json: Json; stderr: string } => {
    const r = run(dir, ['test', 'gtest', '--json', '-j', '2', ...args]);
    return { status: r.status, json: JSON.parse(r.stdout || '{}') as Json, stderr: r.stderr };
  };
  const verdict = (j: Json): string => j.cases.map((c) => `${c.name}=${c.status}`).join(' ');

  it('declares --data files at their absolute path; a failing case fails the run', () => {
    const r = gtest('--data', data, 'fake_test');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(verdict(r.json), 'Data.Reads=passed Data.Missing=failed More.Passes=passed');
    const text = run(dir, ['test', 'gtest', '-s', '--data', data, 'fake_test']);
    assert.match(text.stdout, /\[ {2}FAILED {2}\] Data\.Missing \(0 ms\)\n\[ RUN {6}\] Data\.Missing\n/);
    assert.match(text.stdout, /gg test: 3 tests: 2 passed, 1 failed; \d+ shards?, 0 thunks run/);
  });

  it('without the data the case that reads it fails; unchanged data runs nothing; changed data reruns', () => {
    assert.equal(verdict(gtest('fake_test').json), 'Data.Reads=failed Data.Missing=failed More.Passes=passed');
    assert.equal(gtest('--data', data, 'fake_test').json.executed, 0);
    fs.writeFileSync(path.join(data, 'expected'), 'no\n');
    const changed = gtest('--data', data, 'fake_test');
    assert.equal(verdict(changed.json), 'Data.Reads=failed Data.Missing=failed More.Passes=passed');
    assert.ok(changed.json.binaries[0]!.shards_run > 0);
  });

  it('--per-test gives one thunk per case, --shards N that many; the same verdicts', () => {
    const per = gtest('--per-test', '--data', data, 'fake_test');
    assert.equal(per.json.binaries[0]!.shards, 3);
    const two = gtest('--shards', '2', '--data', data, 'fake_test');
    assert.equal(two.json.binaries[0]!.shards, 2);
    assert.equal(verdict(per.json), verdict(two.json));
    const both = run(dir, ['test', 'gtest', '--shards', '2', '--per-test', 'fake_test']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /^error\[GG_E_USAGE\]: --shards and --per-test exclude each other/);
  });

  it('refuses a listing whose names could smuggle shell words or flags, and a missing binary', () => {
    const bad = run(dir, ['test', 'gtest', 'bad_test']);
    assert.equal(bad.status, 2);
    assert.match(
      bad.stderr,
      /^error\[GG_E_USAGE\]: bad_test --gtest_list_tests printed a line that is not a Google Test listing: ' {2}a;rm'/m,
    );
    const missing = run(dir, ['test', 'gtest', 'no_such_test']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^error\[GG_E_FILE_NOT_FOUND\]: test binary no_such_test does not exist/);
  });
});
