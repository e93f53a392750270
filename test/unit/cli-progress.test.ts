/**
 * Progress output of gg force with and without a terminal, and with NO_COLOR: the reporter on its own, then the
 * real CLI under a real pseudo-terminal (script(1)) and piped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { GgError } from '../../src/errors.js';
import { ProgressReporter } from '../../src/cli/progress.js';
import { GG, project, run } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

const ESC = '\x1b';
const SGR = /\x1b\[[0-9;]*m/; // a colour or style
const where = { engine: 'local', host: 'local', slot: 0 };

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const stream = { write: (s: string) => ((out += s), true), columns: 80 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

/** Four thunks: one executed, one a memo hit, one an early cutoff, one failed; then the summary. */
function drive(tty: boolean, noColor: string | undefined, verbose = false): string {
  const saved = process.env['NO_COLOR'];
  if (noColor === undefined) delete process.env['NO_COLOR'];
  else process.env['NO_COLOR'] = noColor;
  try {
    const { stream, text } = capture();
    const p = new ProgressReporter({ tty, quiet: false, verbose, stream });
    // A memo hit on a reference is never loaded, so never discovered; a cutoff's thunk is discovered first.
    for (const n of ['Ta', 'Tc', 'Td']) p.onEvent({ type: 'discovered', name: n, argv0: 'cc', deps: [] });
    p.onEvent({ type: 'started', name: 'Ta', argv0: 'cc', output: 'a.o', bytesIn: 10, ...where });
    p.onEvent({
      type: 'finished',
      name: 'Ta',
      argv0: 'cc',
      output: 'a.o',
      wallMs: 3,
      bytesOut: 5,
      log: '',
      ...where,
    } as never);
    p.onEvent({ type: 'cached', ref: 'Tb', how: 'memo' });
    p.onEvent({ type: 'cached', ref: 'Tx', how: 'cutoff', orig: 'Td' });
    p.onEvent({ type: 'started', name: 'Tc', argv0: 'ld', output: 'a.out', bytesIn: 0, ...where });
    if (tty) (p as unknown as { render(): void }).render(); // what the 100 ms timer draws on a terminal
    p.onEvent({ type: 'failed', name: 'Tc', argv0: 'ld', error: new GgError('GG_E_THUNK_FAILED', 'exit 1') } as never);
    p.finish();
    return text();
  } finally {
    if (saved === undefined) delete process.env['NO_COLOR'];
    else process.env['NO_COLOR'] = saved;
  }
}

describe('progress output', () => {
  it('piped: one plain line per thunk run or failed and a summary, no escape sequences (NO_COLOR or not)', () => {
    for (const noColor of [undefined, '1']) {
      const out = drive(false, noColor);
      assert.ok(!out.includes(ESC), JSON.stringify(out));
      const lines = out.trimEnd().split('\n');
      // Starts and memo hits only with --verbose: a memoized build would print a line per thunk.
      assert.deepEqual(lines.slice(0, -1), [
        'gg: [1/3] finished Ta cc 3 ms',
        'gg: [4/4] failed   Tc GG_E_THUNK_FAILED',
      ]);
      assert.match(
        lines.at(-1)!,
        /^gg: \[4\/4\] executed 1, cached 2, failed 1 in \d+\.\d\d s, moved 10 B in \/ 5 B out$/,
      );
    }
  });

  it('piped with --verbose: every event, starts and memo hits included', () => {
    const lines = drive(false, undefined, true).trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -1), [
      'gg: [0/3] started  Ta cc',
      'gg: [1/3] finished Ta cc 3 ms',
      'gg: [2/4] cached   Tb',
      'gg: [3/4] cached   Tx (early cutoff)',
      'gg: [3/4] started  Tc ld',
      'gg: [4/4] failed   Tc GG_E_THUNK_FAILED',
    ]);
  });

  it('on a terminal: a live block redrawn in place, no per-event lines, failures in red', () => {
    const out = drive(true, undefined);
    assert.ok(!out.includes('started  Ta'), 'no event lines without --verbose');
    assert.match(out, /\[#{18}\.{6}\] 3\/4 {2}running 1, executed 1, cached 2, failed 0 /, 'the bar');
    assert.match(out, /\n {4}\d+\.\ds {2}ld Tc/, 'the running thunk under it');
    assert.match(out, /\r\x1b\[2K/, 'the block is cleared before the summary');
    assert.match(out, /\x1b\[31mfailed 1\x1b\[0m in /, 'the failure count in red');
  });

  for (const value of ['1', 'yes', 'false']) {
    it(`on a terminal with NO_COLOR=${value}: the same block, no colour (any non-empty value counts)`, () => {
      const out = drive(true, value);
      assert.ok(!SGR.test(out), JSON.stringify(out));
      assert.match(out, /\r\x1b\[2K/, 'cursor control stays: it is not colour');
      assert.match(out, /executed 1, cached 2, failed 1 in /);
    });
  }

  it('NO_COLOR set but empty does not disable colour (no-color.org)', () => {
    assert.match(drive(true, ''), /\x1b\[31mfailed 1/);
  });
});

describe('gg force progress, real CLI', () => {
  /** A project with one thunk that succeeds and one that fails. */
  function targets(): { dir: string; names: string[] } {
    const dir = project();
    const s = new ShellThunks(dir);
    const names = [s.script('echo ok > out').name, s.script('exit 3').name];
    s.close();
    return { dir, names };
  }

  it('piped: plain event lines on stderr, nothing on stdout but the forced names', () => {
    const { dir, names } = targets();
    const r = run(dir, ['force', '--sandbox=none', ...names]);
    assert.equal(r.status, 1);
    assert.ok(!r.stderr.includes(ESC), r.stderr);
    assert.match(r.stderr, /^gg: \[\d\/2\] finished T\S+ sh \d+ ms$/m);
    assert.doesNotMatch(r.stderr, /started/, 'starts only with --verbose');
    assert.match(r.stderr, /^gg: \[2\/2\] executed 1, cached 0, failed 1 in /m);
  });

  for (const noColor of [undefined, '1']) {
    it(`under a real terminal${noColor ? ' with NO_COLOR=1' : ''}: the live block${noColor ? ', no colour' : ', failures in red'}`, () => {
      const { dir, names } = targets();
      const cmd = [process.execPath, GG, 'force', '--sandbox=none', ...names].map((a) => `'${a}'`).join(' ');
      const env: NodeJS.ProcessEnv = { ...process.env, GG_DIR: '' };
      delete env['NO_COLOR'];
      if (noColor) env['NO_COLOR'] = noColor;
      // script(1) runs the command on a new pseudo-terminal and copies what it printed to our stdout.
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.ok(!/^gg: \[\d\/2\] started/m.test(r.stdout), 'no per-event lines on a terminal');
      assert.match(r.stdout, /executed 1, cached 0, /);
      if (noColor) assert.ok(!SGR.test(r.stdout), JSON.stringify(r.stdout));
      else assert.match(r.stdout, /\x1b\[31mfailed 1\x1b\[0m/);
    });
  }
});
