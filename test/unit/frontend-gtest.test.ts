/**
 * gg test gtest's pure parts: reading a listing and a case's output, sharding, and the JUnit XML, which is
 * read back by a real JUnit consumer (test-results-parser) and checked by xmllint when it is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseV2 } from 'test-results-parser';
import { caseOutcome, parseGtestList } from '../../src/frontend/gtest/listing.js';
import { junitXml, type JunitCase } from '../../src/frontend/gtest/junit.js';
import { planShards } from '../../src/frontend/gtest/plan.js';
import { GgError } from '../../src/errors.js';
import { tempDir } from '../helpers/cli.js';

const LISTING = `Running main() from gtest_main.cc
FactorialTest.
  Negative
  Zero
DISABLED_Slow.
  Never
Prime/PrimeTableTest.  # TypeParam = int
  ReturnsFalseForNonPrimes/0  # GetParam() = 0x1234
  DISABLED_Later
`;

describe('gtest listing and outcomes', () => {
  it("reads suites, tests, parameterized and disabled cases; skips main()'s chatter", () => {
    assert.deepEqual(parseGtestList(LISTING, 'bin'), [
      { name: 'FactorialTest.Negative', disabled: false },
      { name: 'FactorialTest.Zero', disabled: false },
      { name: 'DISABLED_Slow.Never', disabled: true },
      { name: 'Prime/PrimeTableTest.ReturnsFalseForNonPrimes/0', disabled: false },
      { name: 'Prime/PrimeTableTest.DISABLED_Later', disabled: true },
    ]);
  });

  it('refuses a test name that could smuggle flags or shell words into the run', () => {
    for (const bad of ['S.\n  a:b\n', 'S.\n  -x\n', 'S.\n  a b\n', "S.\n  a'b\n"]) {
      assert.throws(
        () => parseGtestList(bad, 'bin'),
        (e: unknown) => e instanceof GgError && e.code === 'GG_E_USAGE',
        bad,
      );
    }
  });

  it('tells passed, failed, skipped, crashed, timed out and not-run apart', () => {
    const ok = '[ RUN      ] A.b\n[       OK ] A.b (12 ms)\n';
    assert.deepEqual(caseOutcome('A.b', 0, ok, 60), { status: 'passed', timeMs: 12 });
    assert.deepEqual(caseOutcome('A.b', 1, '[  FAILED  ] A.b (3 ms)\n', 60), { status: 'failed', timeMs: 3 });
    assert.deepEqual(caseOutcome('A.b', 0, '[  SKIPPED ] A.b (0 ms)\n', 60), { status: 'skipped', timeMs: 0 });
    assert.deepEqual(caseOutcome('A.b', 139, '[ RUN      ] A.b\n', 60), {
      status: 'crashed',
      reason: 'killed by SIGSEGV',
    });
    assert.deepEqual(caseOutcome('A.b', 124, '', 7), {
      status: 'timeout',
      reason: 'timed out after 7 s and was killed',
    });
    assert.equal(caseOutcome('A.b', 0, 'no tests ran\n', 60).status, 'failed');
    // Another case's line does not count for this one.
    assert.equal(caseOutcome('A.b', 0, '[       OK ] A.bc (1 ms)\n', 60).status, 'failed');
  });
});

describe('sharding', () => {
  const cases = Array.from({ length: 10 }, (_, i) => `S.t${i}`);

  it('without measurements deals cases round-robin into a few shards per job; every case exactly once', () => {
    const shards = planShards(cases, new Map(), { jobs: 2 });
    assert.equal(shards.length, 6);
    assert.deepEqual(shards.flat().sort(), [...cases].sort());
  });

  it('with measurements packs cheap cases together and spreads expensive ones (LPT)', () => {
    const times = new Map(cases.map((c, i) => [c, i === 0 ? 3000 : 10]));
    const shards = planShards(cases, times, { jobs: 2 });
    // 3090 ms in all: ceil(3090/400) = 8, capped at jobs*3 = 6 shards; the slow case is alone.
    assert.equal(shards.length, 6);
    assert.deepEqual(
      shards.find((s) => s.includes('S.t0')),
      ['S.t0'],
    );
    const cheap = planShards(cases, new Map(cases.map((c) => [c, 5])), { jobs: 2 });
    assert.equal(cheap.length, 1, 'fifty milliseconds of tests are not worth a second jail');
  });

  it('honours a fixed count and one thunk per test; order inside a shard is the listing order', () => {
    const four = planShards(cases, new Map(), { jobs: 2, shards: 4 });
    assert.equal(four.length, 4);
    for (const s of four)
      assert.deepEqual(
        s,
        [...s].sort((a, b) => cases.indexOf(a) - cases.indexOf(b)),
      );
    assert.equal(planShards(cases, new Map(), { jobs: 2, shards: 'per-test' }).length, 10);
    assert.equal(planShards(cases, new Map(), { jobs: 2, shards: 99 }).length, 10);
  });
});

describe('JUnit XML', () => {
  const cases: JunitCase[] = [
    { suite: 'Math', name: 'Adds', status: 'passed', timeMs: 5, output: '[       OK ] Math.Adds (5 ms)\n' },
    {
      suite: 'Math',
      name: 'Breaks',
      status: 'failed',
      timeMs: 1,
      output:
        '[ RUN      ] Math.Breaks\nx.cc:3: Failure\nExpected <a> & "b"\x07\x1b[0m ]]> \ud800\n[  FAILED  ] Math.Breaks (1 ms)\n',
    },
    {
      suite: 'Math',
      name: 'Crashes',
      status: 'crashed',
      reason: 'killed by SIGSEGV',
      output: '[ RUN      ] Math.Crashes\n',
    },
    { suite: 'Slow', name: 'Hangs', status: 'timeout', reason: 'timed out after 2 s and was killed', output: '' },
    { suite: 'Slow', name: 'Skips', status: 'skipped', output: '' },
  ];

  it('is read back by a JUnit consumer with the same verdicts, even with hostile output in it', () => {
    const dir = tempDir();
    const file = path.join(dir, 'report.xml');
    fs.writeFileSync(file, junitXml(cases, 'gg test gtest'));
    const { result, errors } = parseV2({ type: 'junit', files: [file] });
    assert.deepEqual(errors, []);
    const verdicts = result.suites.flatMap((s) => s.cases.map((c) => `${s.name}.${c.name}=${c.status}`));
    assert.deepEqual(verdicts, [
      'Math.Adds=PASS',
      'Math.Breaks=FAIL',
      'Math.Crashes=FAIL',
      'Slow.Hangs=FAIL',
      'Slow.Skips=SKIP',
    ]);
    assert.equal(result.total, 4); // the consumer leaves skipped cases out of its total
    assert.equal(result.failed, 1);
    assert.equal(result.errors, 2);
    const failure = result.suites[0]!.cases[1]!;
    assert.match(failure.stack_trace, /Expected <a> & "b"/);
    const lint = spawnSync('xmllint', ['--noout', file], { encoding: 'utf8' });
    if (lint.error === undefined) assert.equal(lint.status, 0, lint.stderr);
    else assert.notEqual(process.env['CI'], 'true', 'CI installs xmllint (libxml2-utils)');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
