/** gg force on the local engine: memoization, failures, limits, safety, dynamic graphs (real processes). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { encodeThunk } from '../../src/ir/thunk.js';
import { computeName } from '../../src/ir/name.js';
import { gg, project, run } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

const NOSB = '--sandbox=none';

interface Summary {
  executed: number;
  cached: number;
  failed: number;
  wall_ms: number;
  targets: { target: string; result?: string; error?: string }[];
}
function forceJson(dir: string, ...args: string[]): { status: number | null; summary: Summary; stderr: string } {
  const r = run(dir, ['force', NOSB, '--json', ...args]);
  return { status: r.status, summary: JSON.parse(r.stdout) as Summary, stderr: r.stderr };
}

function tmpLeft(dir: string): string[] {
  return fs.readdirSync(path.join(dir, '.gg/tmp'));
}

describe('gg force', () => {
  it('memoizes: the second force executes nothing, and a warm target is one lookup', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const a = s.script('echo a > out');
    const b = s.script('cat in > out; echo b >> out', { thunks: [{ name: a.name, filename: 'in' }] });
    s.close();
    writePlaceholder(path.join(dir, 'b.txt'), b.name);
    const first = forceJson(dir, 'b.txt');
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.summary.executed, 2);
    assert.equal(fs.readFileSync(path.join(dir, 'b.txt'), 'utf8'), 'a\nb\n');
    writePlaceholder(path.join(dir, 'b.txt'), b.name);
    const second = forceJson(dir, 'b.txt');
    assert.equal(second.summary.executed, 0);
    assert.equal(second.summary.cached, 1);
    assert.equal(fs.readFileSync(path.join(dir, 'b.txt'), 'utf8'), 'a\nb\n');
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('keeps the placeholder mode, so executables stay executable', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('printf "#!/bin/sh\\necho ran\\n" > out');
    s.close();
    writePlaceholder(path.join(dir, 'prog'), t.name);
    assert.equal(run(dir, ['force', NOSB, 'prog']).status, 0);
    assert.equal(fs.statSync(path.join(dir, 'prog')).mode & 0o777, 0o755);
    writePlaceholder(path.join(dir, 'lib.o'), t.name);
    assert.equal(run(dir, ['force', NOSB, 'lib.o']).status, 0);
    assert.equal(fs.statSync(path.join(dir, 'lib.o')).mode & 0o777, 0o644);
  });

  it('keeps hard-linked placeholders hard-linked: the output is written once', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('echo built > out');
    s.close();
    writePlaceholder(path.join(dir, 'git'), t.name);
    fs.linkSync(path.join(dir, 'git'), path.join(dir, 'git-add'));
    fs.linkSync(path.join(dir, 'git'), path.join(dir, 'git-commit'));
    assert.equal(run(dir, ['force', NOSB, 'git', 'git-add', 'git-commit']).status, 0);
    const inodes = ['git', 'git-add', 'git-commit'].map((f) => fs.statSync(path.join(dir, f)).ino);
    assert.equal(new Set(inodes).size, 1);
    assert.equal(fs.readFileSync(path.join(dir, 'git-commit'), 'utf8'), 'built\n');
  });

  it('reports a failing thunk with its status and stderr, skips its dependants, finishes the rest', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const bad = s.script('echo partial > out; echo "boom: it broke" >&2; exit 3');
    const dependant = s.script('cat in > out', { thunks: [{ name: bad.name, filename: 'in' }] });
    const good = s.script('sleep 0.2; echo fine > out');
    s.close();
    writePlaceholder(path.join(dir, 'dep'), dependant.name);
    writePlaceholder(path.join(dir, 'good'), good.name);
    const r = run(dir, ['force', NOSB, '-j', '2', 'dep', 'good']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_THUNK_FAILED\]: thunk T\S+ \(sh\) exited with status 3/);
    assert.match(r.stderr, /boom: it broke/);
    assert.equal(fs.readFileSync(path.join(dir, 'good'), 'utf8'), 'fine\n');
    assert.match(fs.readFileSync(path.join(dir, 'dep'), 'utf8'), /^#!\/usr\/bin\/env gg-force-and-run/);
    assert.equal(fs.existsSync(path.join(dir, '.gg/reductions', bad.name)), false);
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('--fail-fast stops independent work after the first failure', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const bad = s.script('exit 1');
    const later = s.script('echo later > out');
    s.close();
    const r = forceJson(dir, '-j', '1', '--fail-fast', bad.name, later.name);
    assert.equal(r.status, 1);
    assert.equal(r.summary.executed, 0);
    assert.equal(r.summary.failed, 1);
  });

  it('--fail-fast also kills work already running', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const slow = s.script('sleep 30; echo done > out');
    const bad = s.script('sleep 0.3; exit 1');
    s.close();
    const start = Date.now();
    const r = forceJson(dir, '-j', '2', '--fail-fast', slow.name, bad.name);
    assert.equal(r.status, 1);
    assert.ok(Date.now() - start < 10_000, 'the sleeping thunk was not killed');
    assert.equal(r.summary.failed, 1);
    assert.equal(r.summary.targets.find((t) => t.target === slow.name)?.error, 'GG_E_CANCELLED');
  });

  it('fails a thunk that does not write a declared output', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('echo x > out', { outputs: ['out', 'other'] });
    s.close();
    const r = run(dir, ['force', NOSB, t.name]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /GG_E_THUNK_OUTPUT_MISSING.*'other'/);
  });

  it("a thunk's own timeout is only a straggler hint: a run past it is not killed", () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('sleep 1.5; echo done > out', { timeoutMs: 200 });
    s.close();
    const r = run(dir, ['force', NOSB, t.name]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dir, '.gg/blobs', r.stdout.trim()), 'utf8'), 'done\n');
  });

  it('gg force --timeout is a hard limit: it kills the thunk with its whole process tree and says which limit', () => {
    const dir = project();
    const marker = path.join(dir, 'grandchild-alive');
    const s = new ShellThunks(dir);
    const t = s.script(`(sleep 2; echo > ${marker}) & sleep 30; echo > out`, { timeoutMs: 60_000 });
    s.close();
    const start = Date.now();
    const r = run(dir, ['force', NOSB, '--timeout', '300', t.name]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /GG_E_THUNK_TIMEOUT.*hard time limit of 300 ms \(gg force --timeout\)/);
    assert.ok(Date.now() - start < 10_000);
    const wait = Date.now() + 2500;
    while (Date.now() < wait) {
      /* the grandchild would write its marker after 2 s */
    }
    assert.equal(fs.existsSync(marker), false);
  });

  it('refuses a corrupt object and removes the bad copy', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const input = s.g.value('original\n');
    const t = s.script('cat in > out', { values: [{ name: input, filename: 'in' }] });
    s.close();
    const blob = path.join(dir, '.gg/blobs', input);
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, 'tampered\n');
    const r = run(dir, ['force', NOSB, t.name]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_OBJECT_CORRUPT\]/);
    assert.equal(fs.existsSync(blob), false);
  });

  it('rejects malformed and unsafe thunks when created and when loaded', () => {
    const dir = project();
    const sh = gg(dir, 'collect', '/bin/dash');
    let r = run(dir, ['create-thunk', '-e', sh, '-o', '../escape', '--', sh, 'sh', '-c', 'true']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /GG_E_THUNK_INVALID.*output tag/);
    r = run(dir, ['create-thunk', '-e', `${sh}=../../bin/sh`, '-o', 'out', '--', sh, 'sh']);
    assert.match(r.stderr, /GG_E_THUNK_INVALID.*escapes/);
    r = run(dir, ['create-thunk', '-o', 'out', '--', sh, 'sh']);
    assert.match(r.stderr, /GG_E_THUNK_INVALID.*not among the executables/);
    r = run(dir, [
      'create-thunk',
      '-e',
      sh,
      '-v',
      'VWJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM00000006',
      '-o',
      'out',
      '--',
      sh,
      'sh',
    ]);
    assert.match(r.stderr, /GG_E_OBJECT_MISSING/);
    // A thunk written by someone else's tool, with an escaping tag: refused at load.
    const evil = encodeThunk({
      function: { hash: sh, args: ['sh'], envars: [] },
      values: [],
      thunks: [],
      executables: [{ name: sh }],
      outputs: ['../../owned'],
      timeout: 0,
      links: {},
    });
    const name = computeName(evil);
    fs.writeFileSync(path.join(dir, '.gg/blobs', name), evil);
    r = run(dir, ['force', NOSB, name]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_THUNK_INVALID\]/);
    const garbage = Buffer.concat([Buffer.from('##GGTHUNK##'), Buffer.from([0x0a, 0xff, 0xff])]);
    fs.writeFileSync(path.join(dir, '.gg/blobs', computeName(garbage)), garbage);
    r = run(dir, ['describe', computeName(garbage)]);
    assert.match(r.stderr, /error\[GG_E_THUNK_INVALID\]: malformed thunk/);
  });

  it('gives usage errors exit status 2 and unknown names a clear error', () => {
    const dir = project();
    assert.equal(run(dir, ['force', '--jobs', 'many', 'x']).status, 2);
    const r = run(dir, ['force', NOSB, 'TUQdjzJPkzJafBE4R7dZKHM5kpoNlbLINQm19Qggn5wA000000f9']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_OBJECT_MISSING\]/);
    assert.match(run(dir, ['force', NOSB, 'no-such-file']).stderr, /error\[GG_E_FILE_NOT_FOUND\]/);
  });

  it('forces a thunk whose output is a thunk (dynamic graph)', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const inner = s.script('echo 42 > out');
    const innerBytes = encodeThunk(inner.thunk).toString('base64');
    const outer = s.script(`echo ${innerBytes} | base64 -d > out`, { env: { PATH: '/usr/bin:/bin' } });
    s.close();
    const r = forceJson(dir, outer.name);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dir, '.gg/blobs', r.summary.targets[0]!.result!), 'utf8'), '42\n');
    assert.equal(r.summary.executed, 2);
  });

  it('describes a thunk for people, for machines and as a command line', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const t = s.script('echo hi > out');
    s.close();
    assert.match(gg(dir, 'describe', t.name), /outputs +out/);
    assert.equal(gg(dir, 'describe', '-c', t.name), "env -i PATH=/usr/bin:/bin sh -c 'echo hi > out'");
    assert.equal((JSON.parse(gg(dir, 'describe', '--json', t.name)) as { outputs: string[] }).outputs[0], 'out');
  });
});
