/**
 * The front ends beyond builds, end to end on real programs:
 * - googletest's own samples (Debian's googletest source) built through gg infer and run with
 *   `gg test gtest`, compared case by case with the binaries run directly; a broken, a crashing and a
 *   hanging case added to them; the JUnit XML read by a JUnit consumer and checked by xmllint; memoized;
 *   after a rebuild only the changed binary's cases run.
 * - examples/video: a few seconds of ffmpeg's test source encoded as chunk thunks; same frames and duration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseV2 } from 'test-results-parser';
import { REPO, tempDir } from '../helpers/cli.js';
import { sh, shOk, sourceCopy } from '../helpers/c-project.js';

function cleanup(...dirs: string[]): void {
  if (process.env['GG_KEEP_E2E'] === '1') return;
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}

/** suite.test -> PASS/FAIL/SKIP as a JUnit consumer reads the file (suite names stripped of "binary:"). */
function verdicts(file: string): Map<string, string> {
  const { result, errors } = parseV2({ type: 'junit', files: [file] });
  assert.deepEqual(errors, [], `${file} is not JUnit XML a consumer reads`);
  const out = new Map<string, string>();
  for (const s of result.suites) for (const c of s.cases) out.set(`${s.name.replace(/^.*:/, '')}.${c.name}`, c.status);
  return out;
}

interface GtestJson {
  counts: Record<string, number>;
  binaries: { binary: string; shards: number; shards_run: number }[];
  cases: { binary: string; name: string; status: string; reason?: string }[];
  executed: number;
}

const DELIBERATE = `
#include <chrono>
#include <csignal>
#include <thread>
TEST(GgDeliberate, Broken) { EXPECT_EQ(1 + 1, 3) << "deliberately broken"; }
TEST(GgDeliberate, Crashes) { std::raise(SIGSEGV); }
TEST(GgDeliberate, Hangs) { std::this_thread::sleep_for(std::chrono::hours(1)); }
TEST(GgDeliberate, DISABLED_Never) {}
`;

describe('front ends on real programs', { concurrency: 1 }, () => {
  it('googletest samples via gg infer + gg test gtest: same verdicts as the binaries; failures reported; JUnit valid; memoized; rebuild reruns one binary', (t) => {
    const dir = sourceCopy('googletest');
    if (!dir) return t.skip('get-source googletest failed (no network?)');
    t.after(() => cleanup(dir));
    fs.appendFileSync(path.join(dir, 'googletest/samples/sample1_unittest.cc'), DELIBERATE);
    const build = path.join(dir, 'build');
    fs.mkdirSync(build);
    const bins = ['googletest/sample1_unittest', 'googletest/sample2_unittest'];
    shOk(dir, 'gg init >/dev/null');
    shOk(
      build,
      'gg infer cmake -G Ninja -Dgtest_build_samples=ON -DBUILD_GMOCK=OFF .. >/dev/null && gg infer ninja sample1_unittest sample2_unittest >/dev/null',
    );

    // The binaries are placeholders: gg test builds them first, in the jail, and puts them in place.
    const r = sh(build, `gg test gtest -s -j2 --case-timeout 3 --junit report.xml ${bins.join(' ')}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stdout,
      /\[ {2}FAILED {2}\] googletest\/sample1_unittest: GgDeliberate\.Broken \(\d+ ms\)\n[^]*sample1_unittest\.cc:\d+: Failure[^]*deliberately broken/,
    );
    assert.match(r.stdout, /\[ {2}CRASHED \] googletest\/sample1_unittest: GgDeliberate\.Crashes: killed by SIGSEGV/);
    assert.match(
      r.stdout,
      /\[ {2}TIMEOUT \] googletest\/sample1_unittest: GgDeliberate\.Hangs: timed out after 3 s and was killed/,
    );
    assert.match(r.stdout, /gg test: \d+ tests: \d+ passed, 1 failed, 1 crashed, 1 timed out, 1 disabled;/);

    // The same cases run directly by the binaries (gtest's own XML), but the crash and the hang, which
    // would end or stall a direct run: those two are run alone.
    const ours = verdicts(path.join(build, 'report.xml'));
    const direct = new Map<string, string>();
    for (const [i, b] of bins.entries()) {
      const xml = path.join(build, `direct${i}.xml`);
      spawnSync(
        path.join(build, b),
        [`--gtest_output=xml:${xml}`, '--gtest_filter=-GgDeliberate.Crashes:GgDeliberate.Hangs'],
        { cwd: build, encoding: 'utf8' },
      );
      for (const [k, v] of verdicts(xml)) if (!k.includes('DISABLED_')) direct.set(k, v);
    }
    const crash = spawnSync(path.join(build, bins[0]!), ['--gtest_filter=GgDeliberate.Crashes'], { encoding: 'utf8' });
    direct.set(
      'GgDeliberate.Crashes',
      crash.signal === 'SIGSEGV' ? 'FAIL' : `unexpected: ${crash.signal ?? crash.status}`,
    );
    const hang = spawnSync(path.join(build, bins[0]!), ['--gtest_filter=GgDeliberate.Hangs'], {
      encoding: 'utf8',
      timeout: 3000,
    });
    direct.set('GgDeliberate.Hangs', hang.signal === 'SIGTERM' ? 'FAIL' : `unexpected: ${hang.signal ?? hang.status}`);
    assert.equal(ours.get('GgDeliberate.DISABLED_Never'), 'SKIP');
    ours.delete('GgDeliberate.DISABLED_Never');
    assert.ok(direct.size > 10);
    assert.deepEqual([...ours].sort(), [...direct].sort());
    const lint = spawnSync('xmllint', ['--noout', path.join(build, 'report.xml')], { encoding: 'utf8' });
    assert.equal(lint.status, 0, `xmllint (libxml2-utils): ${lint.error?.message ?? lint.stderr}`);

    // Unchanged binaries: nothing runs.
    const again = JSON.parse(
      shOk(build, `gg test gtest --json -j2 --case-timeout 3 ${bins.join(' ')} || true`),
    ) as GtestJson;
    assert.equal(again.executed, 0);
    assert.deepEqual(again.counts, {
      passed: again.counts['passed'],
      failed: 1,
      skipped: 0,
      disabled: 1,
      crashed: 1,
      timeout: 1,
    });

    // A new test in sample2: rebuilt through gg infer; only sample2's shards run.
    fs.appendFileSync(
      path.join(dir, 'googletest/samples/sample2_unittest.cc'),
      '\nTEST(GgAdded, Passes) { EXPECT_TRUE(true); }\n',
    );
    shOk(build, 'gg infer ninja sample1_unittest sample2_unittest >/dev/null');
    const rebuilt = JSON.parse(
      shOk(build, `gg test gtest --json -j2 --case-timeout 3 ${bins.join(' ')} || true`),
    ) as GtestJson;
    assert.equal(rebuilt.binaries[0]!.shards_run, 0, 'sample1 did not change');
    assert.ok(rebuilt.binaries[1]!.shards_run > 0 && rebuilt.binaries[1]!.shards_run === rebuilt.binaries[1]!.shards);
    assert.equal(rebuilt.cases.find((c) => c.name === 'GgAdded.Passes')?.status, 'passed');
  });

  it('examples/video: chunks encoded as thunks, concatenated; same frame count and duration as the input; memoized', (t) => {
    const dir = tempDir('gg-e2e-video-');
    t.after(() => cleanup(dir));
    shOk(
      dir,
      'gg init >/dev/null && ffmpeg -nostdin -v error -f lavfi -i testsrc2=duration=3:size=160x120:rate=25 -c:v libx264 -g 30 -pix_fmt yuv420p clip.mp4',
    );
    const name = shOk(dir, `node ${path.join(REPO, 'dist/examples/video/encode.js')} clip.mp4 3`).trim();
    const summary = JSON.parse(shOk(dir, `gg force --json -j2 ${name}`)) as {
      executed: number;
      targets: { result: string }[];
    };
    assert.equal(summary.executed, 5, 'one split, three encodes, one concat');
    fs.copyFileSync(path.join(dir, '.gg/blobs', summary.targets[0]!.result), path.join(dir, 'out.mp4'));
    const probe = (f: string): string =>
      shOk(
        dir,
        `ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,nb_read_frames:format=duration -of csv=p=0 ${f}`,
      );
    assert.equal(probe('out.mp4').replace(/\s+/g, ' ').trim(), 'h264,75 3.000000');
    assert.equal(probe('clip.mp4').replace(/\s+/g, ' ').trim(), 'h264,75 3.000000');
    assert.equal((JSON.parse(shOk(dir, `gg force --json -j2 ${name}`)) as { executed: number }).executed, 0);
  });
});
