/** --executable-file: host programs with their ELF/#! closure run in the jail, through the real CLI. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { elfInterpreter, executableClosure } from '../../src/frontend/executable-closure.js';
import { gg, project, run } from '../helpers/cli.js';

describe('executable closure', () => {
  it('holds the program, its ELF interpreter and libraries, every symlink on the way declared too', () => {
    const files = executableClosure('/bin/sh').map((f) => f.filename);
    assert.equal(files[0], '/bin/sh');
    assert.ok(files.includes(fs.realpathSync('/bin/sh')), 'the real file behind the symlink');
    const interp = elfInterpreter(fs.realpathSync('/bin/sh'))!;
    assert.match(interp, /^\/lib.*ld-linux/);
    assert.ok(files.includes(interp) && files.includes(fs.realpathSync(interp)));
    assert.ok(files.some((f) => /\/libc\.so\.6$/.test(f)));
    for (const f of executableClosure('/usr/bin/ls'))
      assert.ok(path.isAbsolute(f.filename) && fs.existsSync(f.hostPath));
  });

  it("follows a script's #! interpreter", () => {
    const dir = fs.mkdtempSync('/tmp/gg-closure-');
    const script = path.join(dir, 'hello.sh');
    fs.writeFileSync(script, '#!/bin/sh\necho from-script > out\n', { mode: 0o755 });
    const files = executableClosure(script).map((f) => f.filename);
    assert.equal(files[0], script);
    assert.ok(files.includes('/bin/sh') && files.some((f) => /libc\.so\.6$/.test(f)));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('gg create-thunk --executable-file (real CLI, bubblewrap by default)', () => {
  it('runs ls and a #! script in the jail, the function named by path or by hash', () => {
    const dir = project();
    fs.writeFileSync(path.join(dir, 'hello.sh'), '#!/bin/sh\necho "from script: $1" > out\n', { mode: 0o755 });
    const script = path.join(dir, 'hello.sh');
    const viaPath = gg(
      dir,
      'create-thunk',
      '--executable-file',
      script,
      '-o',
      'out',
      '-C',
      'script.out',
      '--',
      script,
      'hello.sh',
      'arg1',
    );
    assert.match(viaPath, /^T/);
    gg(
      dir,
      'create-thunk',
      '--executable-file',
      '/bin/sh',
      '--executable-file',
      '/usr/bin/ls',
      '-E',
      'PATH=/usr/bin:/bin',
      '-o',
      'out',
      '-C',
      'ls.out',
      '--',
      gg(dir, 'hash', '/bin/sh'),
      'sh',
      '-c',
      'ls / > out',
    );
    const r = run(dir, ['force', 'script.out', 'ls.out']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.equal(fs.readFileSync(path.join(dir, 'script.out'), 'utf8'), 'from script: arg1\n');
    // The jail's root holds the declared tree and the jail's own mount points, nothing else of the host.
    assert.deepEqual(fs.readFileSync(path.join(dir, 'ls.out'), 'utf8').trim().split('\n').sort(), [
      'bin',
      'dev',
      'gg',
      'lib',
      'lib64',
      'proc',
      'tmp',
      'usr',
    ]);
  });

  it('--sandbox=none still works and warns on every run', () => {
    const dir = project();
    const sh = gg(dir, 'collect', '/bin/sh');
    gg(dir, 'create-thunk', '-e', sh, '-o', 'out', '-C', 'a.out', '--', sh, 'sh', '-c', 'echo unsandboxed > out');
    const r = run(dir, ['force', '--sandbox=none', 'a.out']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --sandbox=none: thunks run unisolated/);
    assert.equal(fs.readFileSync(path.join(dir, 'a.out'), 'utf8'), 'unsandboxed\n');
  });

  it('stops with GG_E_SANDBOX_UNAVAILABLE and a hint when bubblewrap cannot run, never falling back silently', () => {
    const dir = project();
    const sh = gg(dir, 'collect', '/bin/sh');
    gg(dir, 'create-thunk', '-e', sh, '-o', 'out', '-C', 'a.out', '--', sh, 'sh', '-c', 'echo hi > out');
    const r = run(dir, ['force', 'a.out'], { env: { PATH: '/nonexistent' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_SANDBOX_UNAVAILABLE\]: bubblewrap \(bwrap\) is not installed/);
    assert.match(r.stderr, /hint: .*--sandbox=none/);
    assert.match(fs.readFileSync(path.join(dir, 'a.out'), 'utf8'), /^#!/, 'nothing ran');
  });
});
