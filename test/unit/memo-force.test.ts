/**
 * gg-memo-force (src/force/memo-force.c): the launcher's `gg force` without Node, for a fully memoized force.
 * It must leave exactly what the Node path leaves (outputs, modes, the job trace, what is printed, the exit
 * status), and hand anything else over untouched. Run through the launcher (dist/bin/gg.js), as users run gg;
 * GG_MEMO_FAST_WHY=1 makes the program say why it hands over, GG_MEMO_FAST=0 gives the Node path to compare.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { GG, REPO, project, tempDir, type RunResult } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

const FAST = path.join(REPO, 'dist/bin/gg-memo-force');
// Built by `npm run build` with the host's C compiler. Without one there is nothing to test: a named skip
// locally, a failure in CI (whose image has gcc).
const premise = fs.existsSync(FAST) ? undefined : `${FAST} was not built (no C compiler at npm run build)`;
const opts = { skip: premise !== undefined && process.env['CI'] !== 'true' ? premise : false };
const HAND_OVER = 'gg-memo-force: hand over';

function launch(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, gg = GG): RunResult {
  if (premise !== undefined) assert.fail(`${premise} (CI must build it)`);
  const r = spawnSync(gg, args, {
    cwd,
    env: { ...process.env, GG_DIR: '', GG_MEMO_FAST_WHY: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A project whose thunks were forced once (by Node), with fresh placeholders of them in place. */
function memoized(n = 4): { dir: string; names: string[]; files: string[]; reset: () => void } {
  const dir = project();
  const s = new ShellThunks(dir);
  const names = Array.from({ length: n }, (_, i) => s.script(`printf 'out ${i}\\n' > out`).name);
  s.close();
  // modes and both placeholder forms: an executable, a plain file, a private one, an object file
  const files = names.map((_, i) => ['prog', 'data.txt', 'secret', 'lib.o'][i % 4] + (i < 4 ? '' : `-${i}`));
  const modes = [0o755, 0o644, 0o600, 0o644];
  const reset = (): void =>
    files.forEach((f, i) => {
      writePlaceholder(path.join(dir, f), names[i]!);
      fs.chmodSync(path.join(dir, f), modes[i % 4]!);
    });
  reset();
  const first = launch(dir, ['force', '--sandbox=none', ...files], { GG_MEMO_FAST: '0' });
  assert.equal(first.status, 0, first.stderr);
  reset();
  return { dir, names, files, reset };
}

/** What a force left: each target's bytes and mode, the newest job trace (times, ids and pids blanked). */
function outcome(dir: string, files: string[], r: RunResult): object {
  const jobs = path.join(dir, '.gg/jobs');
  const traces = fs.readdirSync(jobs).sort();
  const trace = fs
    .readFileSync(path.join(jobs, traces.at(-1)!), 'utf8')
    .replace(/"(t|start|pid)":\d+(\.\d+)?/g, '"$1":0')
    .replace(/"id":"[^"]*"/, '"id":""');
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr.replace(/ in \d+\.\d\d s/g, ' in T s'),
    trace,
    files: files.map((f) => {
      const st = fs.lstatSync(path.join(dir, f));
      return { f, mode: st.mode, data: fs.readFileSync(path.join(dir, f), 'utf8') };
    }),
  };
}

/** The same force through the fast path and through Node alone, on the same project: the same outcome. */
function sameAsNode(dir: string, files: string[], args: string[], reset: () => void): RunResult {
  const fast = launch(dir, args);
  assert.ok(!fast.stderr.includes(HAND_OVER), `the fast path handed over:\n${fast.stderr}`);
  const got = outcome(dir, files, fast);
  reset();
  const node = launch(dir, args, { GG_MEMO_FAST: '0' });
  assert.deepEqual(got, outcome(dir, files, node));
  return fast;
}

function tmpLeft(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.includes('.gg-tmp-'));
}

describe('gg-memo-force: a memoized gg force without Node', () => {
  it('places what Node places: bytes, modes, both placeholder forms, the trace and what is printed', opts, () => {
    const { dir, files, reset } = memoized(6);
    const r = sameAsNode(dir, files, ['force', '-j', '2', ...files], reset);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^gg: \[6\/6\] executed 0, cached 6, failed 0 in \d+\.\d\d s\n$/);
    assert.equal(fs.readFileSync(path.join(dir, 'lib.o'), 'utf8'), 'out 3\n');
    assert.equal(fs.statSync(path.join(dir, 'secret')).mode & 0o7777, 0o600);
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('says what Node says for --sandbox=none, -s, --jobs=N, and one ref behind two placeholders', opts, () => {
    const { dir, names, files, reset } = memoized(2);
    const twice = (): void => {
      reset();
      writePlaceholder(path.join(dir, 'again'), names[0]!);
    };
    twice();
    const all = [...files, 'again'];
    sameAsNode(dir, all, ['force', '--sandbox', 'none', '--jobs=3', ...all], twice);
    twice();
    const quiet = sameAsNode(dir, all, ['force', '--sandbox=none', '-s', ...all], twice);
    assert.equal(quiet.stderr, 'gg: warning: --sandbox=none: thunks run unisolated on this host\n');
    // targets as `find .` prints them, and as users type them: the trace names the file as Node resolves it
    const dotted = ['./' + all[0]!, '././' + all[1]!, all[2]!];
    twice();
    sameAsNode(dir, dotted, ['force', '-s', ...dotted], twice);
  });

  it('keeps no trace with --no-trace, and prunes old traces as Node does', opts, () => {
    const { dir, files, reset } = memoized(1);
    const jobs = path.join(dir, '.gg/jobs');
    const before = fs.readdirSync(jobs).length;
    assert.equal(launch(dir, ['force', '--no-trace', ...files]).status, 0);
    assert.equal(fs.readdirSync(jobs).length, before);
    for (let i = 0; i < 60; i++)
      fs.writeFileSync(path.join(jobs, `20000101-000000-${String(i).padStart(3, '0')}-1.jsonl`), '');
    reset();
    assert.equal(launch(dir, ['force', ...files]).status, 0);
    const left = fs.readdirSync(jobs).sort();
    assert.equal(left.length, 50);
    assert.ok(!left.includes('20000101-000000-000-1.jsonl'), 'the oldest traces are pruned');
  });

  it('hands over, having written nothing, when one target is not memoized', opts, () => {
    const { dir, files, reset } = memoized(2);
    const s = new ShellThunks(dir);
    const fresh = s.script("printf 'fresh\\n' > out").name;
    s.close();
    reset();
    writePlaceholder(path.join(dir, 'fresh'), fresh);
    const traces = fs.readdirSync(path.join(dir, '.gg/jobs')).length;
    const r = launch(dir, ['force', '--sandbox=none', ...files, 'fresh']);
    assert.match(r.stderr, /hand over: no memo entry naming a value/);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /executed 1, cached 2/); // Node did all of it
    assert.equal(fs.readdirSync(path.join(dir, '.gg/jobs')).length, traces + 1); // one job, one trace
    assert.equal(fs.readFileSync(path.join(dir, 'fresh'), 'utf8'), 'fresh\n');
  });

  it('never places a blob rewritten in place with its mtime put back: Node finds it corrupt', opts, () => {
    const { dir, files, reset } = memoized(1);
    assert.equal(launch(dir, ['force', ...files]).status, 0);
    const value = fs.readFileSync(
      path.join(dir, '.gg/reductions', fs.readdirSync(path.join(dir, '.gg/reductions'))[0]!),
      'latin1',
    );
    const blob = path.join(dir, '.gg/blobs', value.trim());
    const st = fs.statSync(blob);
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, 'EVIL0\n'); // same size
    fs.chmodSync(blob, st.mode);
    fs.utimesSync(blob, st.atime, st.mtime);
    reset();
    const r = launch(dir, ['force', '--sandbox=none', ...files]);
    assert.match(r.stderr, /hand over: the hash cache does not vouch for the blob/);
    assert.notEqual(fs.readFileSync(path.join(dir, files[0]!), 'utf8'), 'EVIL0\n');
    assert.match(r.stderr, /GG_E_OBJECT_CORRUPT/);
  });

  it('hands over anything it does not recognise exactly', opts, () => {
    const { dir, names, files, reset } = memoized(1);
    const file = files[0]!;
    const reductions = path.join(dir, '.gg/reductions');
    const cases: [string, string[], NodeJS.ProcessEnv, () => void, () => void][] = [
      ['an option for Node', ['--json'], {}, () => {}, () => {}],
      ['a --sandbox for Node to judge', ['--sandbox=fakechroot'], {}, () => {}, () => {}],
      ['a --jobs for Node to judge', ['-j0'], {}, () => {}, () => {}],
      ['a shared store or a memo key', [], { GG_STORAGE_URI: 'bogus://nowhere' }, () => {}, () => {}],
      ['a target path Node normalizes', [], {}, () => {}, () => {}],
      [
        'gg gc may be running',
        [],
        {},
        // a lock left by a gc that died on this host: Node finds it stale and goes on
        () =>
          fs.writeFileSync(path.join(dir, '.gg/gc.lock'), JSON.stringify({ pid: 2 ** 22 + 1, host: os.hostname() })),
        () => fs.rmSync(path.join(dir, '.gg/gc.lock'), { force: true }),
      ],
      [
        'not a placeholder alone in a regular file',
        [],
        {},
        () => fs.linkSync(path.join(dir, file), path.join(dir, 'hard-link')),
        () => fs.rmSync(path.join(dir, 'hard-link')),
      ],
      [
        'no memo entry naming a value',
        [],
        {},
        () => {
          const entry = path.join(reductions, names[0]!);
          fs.renameSync(entry, `${entry}.saved`);
          fs.writeFileSync(entry, '../../../../etc/passwd');
        },
        () => {
          const entry = path.join(reductions, names[0]!);
          fs.renameSync(`${entry}.saved`, entry);
        },
      ],
      [
        'no usable hash cache',
        [],
        {},
        () => fs.renameSync(path.join(dir, '.gg/cache/hash-cache.log'), path.join(dir, 'hash-cache.saved')),
        () => fs.renameSync(path.join(dir, 'hash-cache.saved'), path.join(dir, '.gg/cache/hash-cache.log')),
      ],
    ];
    for (const [why, extra, env, before, after] of cases) {
      reset();
      before();
      const target = why === 'a target path Node normalizes' ? `.//${file}` : file;
      const r = launch(dir, ['force', ...extra, target], env);
      after();
      assert.ok(r.stderr.includes(`${HAND_OVER}: ${why}`), `${why}:\n${r.stderr}`);
      assert.equal((r.stderr.match(/gg-memo-force/g) ?? []).length, 1, 'handed over once, then Node');
    }
    // a link as the target: Node's to handle (it follows it)
    reset();
    fs.renameSync(path.join(dir, file), path.join(dir, 'real'));
    fs.symlinkSync('real', path.join(dir, file));
    const r = launch(dir, ['force', file]);
    assert.match(r.stderr, /hand over: not a placeholder alone in a regular file/);
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('is found through a link to the launcher (npm bin), and GG_MEMO_FAST=0 keeps it out', opts, () => {
    const { dir, files } = memoized(1);
    const bin = tempDir();
    fs.symlinkSync(GG, path.join(bin, 'gg'));
    const viaLink = launch(dir, ['force', '--json', ...files], {}, path.join(bin, 'gg'));
    assert.match(viaLink.stderr, /hand over: an option for Node/);
    assert.equal(viaLink.status, 0);
    assert.equal((JSON.parse(viaLink.stdout) as { cached: number }).cached, 1);
    const off = launch(dir, ['force', '--json', ...files], { GG_MEMO_FAST: '0' });
    assert.ok(!off.stderr.includes('gg-memo-force'), off.stderr);
  });
});
