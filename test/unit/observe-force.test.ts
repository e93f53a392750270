/**
 * The job trace, live status lines, --json-events, Ctrl-C, gg explain (environment, toolchain), gg status and
 * gg gc (consistency, size limits, a concurrent force), all through the built CLI with real processes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { JobTrace, pruneTraces } from '../../src/force/job-trace.js';
import { isPlaceholder } from '../helpers/c-project.js';
import { GG, gg, project, run } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { isValidName, splitTag } from '../../src/ir/name.js';

const NOSB = '--sandbox=none';
type Rec = Record<string, unknown> & { type: string };

function traces(dir: string): string[] {
  const d = path.join(dir, '.gg/jobs');
  return fs.existsSync(d)
    ? fs
        .readdirSync(d)
        .filter((n) => n.endsWith('.jsonl'))
        .sort()
        .map((n) => path.join(d, n))
    : [];
}

function records(file: string): Rec[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
}

/** Start `gg ARGS` in its own process group (as a shell starts a foreground job), without waiting. */
function startGg(
  dir: string,
  args: string[],
): { child: ChildProcess; done: Promise<{ status: number | null; stderr: string; stdout: string }> } {
  const child = spawn(process.execPath, [GG, ...args], {
    cwd: dir,
    env: { ...process.env, GG_DIR: '' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const done = new Promise<{ status: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (status) => resolve({ status, stderr, stdout })),
  );
  return { child, done };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lastTraceHas(dir: string, pred: (r: Rec) => boolean, count = 1): boolean {
  const t = traces(dir).at(-1);
  if (!t) return false;
  let recs: Rec[];
  try {
    recs = records(t);
  } catch {
    return false; // a line being written
  }
  return recs.filter(pred).length >= count;
}

/** No memo entry names an object that is not in the store. */
function assertMemoConsistent(dir: string): void {
  const red = path.join(dir, '.gg/reductions');
  for (const ref of fs.readdirSync(red)) {
    const result = fs.readFileSync(path.join(red, ref), 'latin1').trim();
    assert.ok(isValidName(splitTag(result).name), `${ref} holds a name`);
    assert.ok(
      fs.existsSync(path.join(dir, '.gg/blobs', splitTag(result).name)),
      `memo entry ${ref} names ${result}, which is gone`,
    );
  }
}

function age(files: string[], days: number): void {
  const t = new Date(Date.now() - days * 86_400_000);
  for (const f of files) fs.utimesSync(f, t, t);
}

describe('job traces and live status', () => {
  it("records each thunk's life (engine, host, slot, argv0, bytes, memo outcome) as the job runs; --json-events streams the same", () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo a > out');
    const b = s.script('cat in in > out', { thunks: [{ name: a.name, filename: 'in' }] });
    s.close();
    writePlaceholder(path.join(dir, 'b.txt'), b.name);

    const r = run(dir, ['force', NOSB, '--json-events', '-j2', 'b.txt']);
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Rec);
    assert.equal(events[0]!.type, 'job');
    assert.equal(events.at(-1)!.type, 'end');
    assert.equal(events.at(-1)!['status'], 'ok');
    const started = events.filter((e) => e.type === 'started');
    assert.equal(started.length, 2);
    for (const e of started) {
      assert.equal(e['engine'], 'local');
      assert.equal(e['host'], 'local');
      assert.ok(e['slot'] === 0 || e['slot'] === 1);
      assert.equal(e['argv0'], 'sh');
      assert.equal(e['output'], 'out');
      assert.ok((e['bytesIn'] as number) > 10_000, 'the shell is an input');
    }
    const finished = events.filter((e) => e.type === 'finished');
    assert.equal(finished.length, 2);
    assert.ok(finished.every((e) => (e['bytesOut'] as number) > 0 && typeof e['wallMs'] === 'number'));
    assert.equal(fs.readFileSync(path.join(dir, 'b.txt'), 'utf8'), 'a\na\n');

    const [file] = traces(dir);
    const recs = records(file!);
    const header = recs[0]!;
    assert.equal(header.type, 'job');
    assert.deepEqual(header['targets'], [
      { target: 'b.txt', file: path.join(fs.realpathSync(dir), 'b.txt'), ref: b.name },
    ]);
    assert.deepEqual(
      recs.slice(1).map((x) => x.type),
      events.slice(1).map((x) => x.type),
      'the trace holds the events --json-events streamed',
    );
    assert.equal(recs.at(-1)!['executed'], 2);

    // Piped: one line per thunk run (per event with --verbose); the warm job is one memo hit.
    writePlaceholder(path.join(dir, 'b2.txt'), b.name);
    const warm = run(dir, ['force', NOSB, 'b2.txt']);
    assert.equal(warm.status, 0, warm.stderr);
    assert.match(warm.stderr, /^gg: \[1\/1\] executed 0, cached 1, failed 0 in /m);
    assert.doesNotMatch(warm.stderr, / cached +T/, 'memo hits are listed only with --verbose');
    const second = records(traces(dir).at(-1)!);
    assert.deepEqual(
      second.filter((x) => x.type === 'cached').map((x) => x['how']),
      ['memo'],
    );
    const cold = run(dir, ['force', NOSB, '--verbose', '-j1', s.script('echo c > out').name]);
    assert.match(cold.stderr, /^gg: \[0\/1\] started +T\S+ sh$/m);
    assert.match(cold.stderr, /^gg: \[1\/1\] finished +T\S+ sh \d+ ms$/m);
  });

  it('keeps traces bounded: one stops at its size limit with a truncated record, and only the newest are kept', () => {
    const dir = project();
    const ggDir = path.join(dir, '.gg');
    const t = JobTrace.open(
      ggDir,
      { cwd: dir, argv: [], targets: [], jobs: 1, engine: 'local', store: 'test' },
      { maxBytes: 4000 },
    );
    for (let i = 0; i < 200; i++) t.onEvent({ type: 'queued', name: `T${'x'.repeat(60)}${i}`, argv0: 'cc' });
    t.close('ok');
    const recs = records(t.file);
    assert.ok(fs.statSync(t.file).size < 4500, `size ${fs.statSync(t.file).size}`);
    assert.equal(recs.filter((r) => r.type === 'truncated').length, 1);
    assert.equal(recs.at(-1)!.type, 'end');
    for (let i = 0; i < 4; i++)
      JobTrace.open(
        ggDir,
        { cwd: dir, argv: [], targets: [], jobs: 1, engine: 'local', store: 'test' },
        { keep: 3 },
      ).close('ok');
    assert.equal(traces(dir).length, 3);
    assert.equal(pruneTraces(path.join(ggDir, 'jobs'), 1), 2);
  });

  it('a job killed outright still leaves its trace, read back as unfinished', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const slow = s.script('sleep 5; echo > out'); // short: a SIGKILLed gg cannot stop what it started (i8 makes those die too)
    s.close();
    const { child, done } = startGg(dir, ['force', NOSB, slow.name]);
    await waitFor('the thunk to start', () => lastTraceHas(dir, (r) => r.type === 'started'));
    process.kill(-child.pid!, 'SIGKILL');
    await done;
    const t = JSON.parse(gg(dir, 'trace', '--json')) as { status: string; unfinished: number; executed: number };
    assert.equal(t.status, 'unfinished');
    assert.equal(t.unfinished, 1);
    assert.equal(t.executed, 0);
  });

  it('Ctrl-C kills running thunks, keeps finished results, writes nothing half-done, closes the trace, says so; a second force resumes', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const quick = s.script('echo quick > out');
    const slow1 = s.script('sleep 3; echo one > out');
    const slow2 = s.script('sleep 3; echo two > out');
    const top = s.script('cat a b c > out', {
      thunks: [
        { name: quick.name, filename: 'a' },
        { name: slow1.name, filename: 'b' },
        { name: slow2.name, filename: 'c' },
      ],
    });
    s.close();
    writePlaceholder(path.join(dir, 'quick.txt'), quick.name);
    writePlaceholder(path.join(dir, 'top.txt'), top.name);
    const { child, done } = startGg(dir, ['force', NOSB, '-j3', 'quick.txt', 'top.txt']);
    await waitFor(
      'the quick thunk to finish and both slow ones to start',
      () => lastTraceHas(dir, (r) => r.type === 'finished') && lastTraceHas(dir, (r) => r.type === 'started', 3),
    );
    const sent = Date.now();
    process.kill(-child.pid!, 'SIGINT'); // the whole foreground group, as a terminal does
    const r = await done;
    assert.ok(Date.now() - sent < 2500, 'the sleeping thunks were killed, not waited for');
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /Ctrl-C: stopping the running thunks/);
    assert.match(r.stderr, /interrupted: stopped 2 running thunk\(s\); 1 finished/);
    assert.match(r.stderr, /run the same command again to resume/);
    assert.doesNotMatch(r.stderr, /error\[GG_E_THUNK_FAILED\]/, 'killed thunks are not failures of their own');
    const end = records(traces(dir).at(-1)!).at(-1)!;
    assert.equal(end.type, 'end');
    assert.equal(end['status'], 'interrupted');
    assert.equal(fs.readFileSync(path.join(dir, 'quick.txt'), 'utf8'), 'quick\n', 'a finished target is in place');
    assert.ok(isPlaceholder(path.join(dir, 'top.txt')), 'an unfinished target is still its placeholder');
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.includes('gg-tmp')),
      [],
    );
    assert.deepEqual(
      fs.readdirSync(path.join(dir, '.gg/tmp')).filter((n) => /^(obj|red|dl)-/.test(n)),
      [],
      'no half-written object or memo entry',
    );
    assertMemoConsistent(dir);

    const again = JSON.parse(gg(dir, 'force', NOSB, '--json', '-j3', 'top.txt')) as {
      executed: number;
      cached: number;
    };
    assert.equal(
      again.executed,
      3,
      'the two stopped thunks and the one waiting for them; the quick one is not run again',
    );
    assert.ok(again.cached >= 1);
    assert.equal(fs.readFileSync(path.join(dir, 'top.txt'), 'utf8'), 'quick\none\ntwo\n');
  });
});

describe('gg explain (environment, toolchain)', () => {
  function thunkFile(dir: string, file: string, tool: string, env: string[]): void {
    const exe = gg(dir, 'collect', tool);
    const input = gg(dir, 'collect', path.join(dir, 'input.txt'));
    gg(
      dir,
      'create-thunk',
      '-e',
      `${exe}=tool`,
      '-v',
      `${input}=input.txt`,
      ...env.flatMap((e) => ['-E', e]),
      '-o',
      'out',
      '-C',
      file,
      '--',
      exe,
      'tool',
    );
  }

  it('names a changed environment variable and an upgraded tool (a different executable)', () => {
    const dir = project();
    fs.writeFileSync(path.join(dir, 'input.txt'), 'x\n');
    const tool = path.join(dir, 'tool-v1');
    fs.writeFileSync(tool, '#!/bin/sh\necho "v1 $MODE" > out\n', { mode: 0o755 });
    thunkFile(dir, 'result', tool, ['MODE=fast', 'PATH=/usr/bin:/bin']);
    gg(dir, 'force', NOSB, 'result');
    thunkFile(dir, 'result', tool, ['MODE=slow', 'PATH=/usr/bin:/bin']);
    gg(dir, 'force', NOSB, 'result');
    let out = gg(dir, 'explain', 'result');
    assert.match(out, /1 thunk\(s\) ran/);
    assert.match(out, /environment: MODE changed from 'fast' to 'slow'/);
    assert.doesNotMatch(out, /toolchain|argument|input content/);

    const tool2 = path.join(dir, 'tool-v2');
    fs.writeFileSync(tool2, '#!/bin/sh\necho "v2 $MODE" > out\n', { mode: 0o755 });
    thunkFile(dir, 'result', tool2, ['MODE=slow', 'PATH=/usr/bin:/bin']);
    // Before forcing: the thunk is not in the memo and would run.
    out = gg(dir, 'explain', 'result');
    assert.match(out, /would run/);
    assert.match(out, /toolchain: tool is a different executable/);
    gg(dir, 'force', NOSB, 'result');
    const r = JSON.parse(gg(dir, 'explain', '--json', 'result')) as {
      explanations: { differences: { kind: string; file?: string }[] }[];
    };
    assert.deepEqual(
      r.explanations.map((e) => e.differences.map((d) => `${d.kind}:${d.file}`)),
      [['toolchain:tool']],
    );
    assert.equal(fs.readFileSync(path.join(dir, 'result'), 'utf8'), 'v2 slow\n');
  });
});

describe('gg status and gg gc', () => {
  it('status reports objects by kind, memo entries, recent jobs with hit rates, remote storage', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo a > out');
    s.close();
    gg(dir, 'force', NOSB, a.name);
    gg(dir, 'force', NOSB, a.name);
    const st = JSON.parse(gg(dir, 'status', '--json')) as {
      objects: { count: number };
      byKind: { kind: string; count: number }[];
      memoEntries: number;
      jobs: { executed: number; cached: number; hitRate: number }[];
      hitRate: number;
      remote?: string;
    };
    assert.equal(st.objects.count, fs.readdirSync(path.join(dir, '.gg/blobs')).length);
    assert.deepEqual(
      st.byKind.map((k) => [k.kind, k.count]),
      [
        ['value', 2],
        ['thunk', 1],
      ],
    );
    assert.equal(st.memoEntries, fs.readdirSync(path.join(dir, '.gg/reductions')).length);
    assert.deepEqual(
      st.jobs.map((j) => [j.executed, j.cached, j.hitRate]),
      [
        [0, 1, 1],
        [1, 0, 0],
      ],
    );
    assert.equal(st.hitRate, 0.5);
    assert.equal(st.remote, undefined);
    const text = run(dir, ['status'], { env: { GG_STORAGE_URI: 'redis://user:secret@127.0.0.1:1/0' } }).stdout;
    assert.match(text, /remote storage: redis:\/\/\*\*\*@127\.0\.0\.1:1\/0/);
    assert.doesNotMatch(text, /secret/);
  });

  it('gc removes what no kept job reaches, memo entries before their results, and honours --max-size', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const kept = s.script('echo kept > out');
    const dropped = s.script('head -c 50000 /dev/zero > out');
    s.close();
    gg(dir, 'force', NOSB, dropped.name);
    gg(dir, 'force', NOSB, kept.name);
    const blobs = path.join(dir, '.gg/blobs');
    age(
      fs.readdirSync(blobs).map((n) => path.join(blobs, n)),
      30,
    );
    // The newest job (forcing `kept`) is kept; the older one goes, and with it what only it reached.
    const r = JSON.parse(gg(dir, 'gc', '--json', '--keep-jobs', '1', '--older-than', '7d')) as {
      removedObjects: number;
      removedMemo: number;
      removedTraces: number;
      overBy: number;
    };
    assert.equal(r.removedTraces, 1);
    assert.ok(r.removedObjects >= 2, `removed ${r.removedObjects}: the dropped thunk and its 50 kB output`);
    assert.ok(r.removedMemo >= 2);
    assertMemoConsistent(dir);
    const warm = JSON.parse(gg(dir, 'force', NOSB, '--json', kept.name)) as { executed: number };
    assert.equal(warm.executed, 0, 'what a kept job reaches is still memoized');
    // A size limit below what the kept job needs removes nothing it needs and says how far over it is.
    const m = JSON.parse(gg(dir, 'gc', '--json', '--max-size', '1k')) as { overBy: number; removedObjects: number };
    assert.ok(m.overBy > 0);
    assert.equal((JSON.parse(gg(dir, 'force', NOSB, '--json', kept.name)) as { executed: number }).executed, 0);
    assertMemoConsistent(dir);
    assert.match(run(dir, ['gc', '--max-size', 'lots']).stderr, /error\[GG_E_USAGE\]: --max-size wants a size/);
  });

  it('gc while another force runs removes nothing that force needs', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo base > out');
    const garbage = s.script('echo garbage > out');
    s.close();
    gg(dir, 'force', NOSB, a.name);
    gg(dir, 'force', NOSB, garbage.name);
    const s2 = new ShellThunks(dir);
    const b = s2.script('sleep 2; cat in > out', { thunks: [{ name: a.name, filename: 'in' }] });
    const c = s2.script('cat in in > out', { thunks: [{ name: b.name, filename: 'in' }] });
    s2.close();
    writePlaceholder(path.join(dir, 'c.txt'), c.name);
    // Everything is old and no finished job is kept: only the running force's header protects its graph.
    for (const f of traces(dir)) fs.rmSync(f);
    const blobs = path.join(dir, '.gg/blobs');
    age(
      fs.readdirSync(blobs).map((n) => path.join(blobs, n)),
      30,
    );
    const { done } = startGg(dir, ['force', NOSB, 'c.txt']);
    await waitFor('b to start', () => lastTraceHas(dir, (r) => r.type === 'started'));
    const r = JSON.parse(gg(dir, 'gc', '--json', '--keep-jobs', '0', '--older-than', '1s', '--max-size', '0')) as {
      removedObjects: number;
      reachable: number;
    };
    assert.ok(r.removedObjects >= 2, 'the garbage thunk and its output went');
    assert.ok(r.reachable >= 5, `reachable ${r.reachable}`);
    const f = await done;
    assert.equal(f.status, 0, f.stderr);
    assert.equal(fs.readFileSync(path.join(dir, 'c.txt'), 'utf8'), 'base\nbase\n');
    assertMemoConsistent(dir);
    assert.equal(fs.existsSync(path.join(blobs, garbage.name)), false);
  });

  it('a force that starts while gc holds its lock waits for it', async () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo a > out');
    s.close();
    const lock = path.join(dir, '.gg/gc.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname() }));
    const { done } = startGg(dir, ['force', NOSB, a.name]);
    await waitFor('the job header', () => lastTraceHas(dir, (r) => r.type === 'job'));
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(
      lastTraceHas(dir, (r) => r.type === 'discovered'),
      false,
      'nothing forced while gc runs',
    );
    fs.rmSync(lock);
    const f = await done;
    assert.equal(f.status, 0, f.stderr);
    assert.match(f.stderr, /waiting for a running gg gc/);
    assert.equal(run(dir, ['gc']).status, 0);
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname() }));
    assert.match(run(dir, ['gc']).stderr, /error\[GG_E_BUSY\]: another gg gc is running/);
  });
});
