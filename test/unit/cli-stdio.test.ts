/**
 * The CLI's stdout/stderr (src/cli/stdio.ts) in a child process, on each kind of descriptor: the same bytes in
 * the same order as Node's streams give, Node's stream kept for character devices (a terminal needs it), and the
 * fall-back to Node's stream when a direct write fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO, tempDir } from '../helpers/cli.js';

const STDIO = path.join(REPO, 'dist/src/cli/stdio.js');

/** A child that writes through the module; `body` runs with `stdout`, `stderr` and `fs` in scope. */
function script(body: string): string[] {
  return [
    '--input-type=module',
    '-e',
    `import fs from 'node:fs'; import { stdout, stderr } from ${JSON.stringify(STDIO)};\n${body}`,
  ];
}

/** Whether the child created Node's stream for fd 1 or 2 (each loads modules Node keeps out of its snapshot). */
const REPORT_STREAMS = `fs.writeSync(3, JSON.stringify({ tty: [stdout.isTTY, stderr.isTTY], loaded: process.moduleLoadList.filter((m) => /^NativeModule (net|tty|internal\\/fs\\/sync_write_stream)$/.test(m)) }));`;

describe('cli stdio', () => {
  it('to a file: direct writes, in order, multi-byte text intact, no Node stream created', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const fd = fs.openSync(out, 'w');
    const r = spawnSync(
      process.execPath,
      script(`stdout.write('a ü\\n'); stderr.write('b ✓\\n'); stdout.write('c\\n'); ${REPORT_STREAMS}`),
      { stdio: ['ignore', fd, fd, 'pipe'], encoding: 'utf8' },
    );
    fs.closeSync(fd);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), 'a ü\nb ✓\nc\n');
    const report = JSON.parse(r.output[3] as string) as { tty: boolean[]; loaded: string[] };
    assert.deepEqual(report, { tty: [false, false], loaded: [] });
  });

  it('to pipes: the same bytes as on a file, no Node stream created', () => {
    const r = spawnSync(
      process.execPath,
      script(`stdout.write('x'.repeat(300_000)); stderr.write('e\\n'); ${REPORT_STREAMS}`),
      {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'x'.repeat(300_000));
    assert.equal(r.stderr, 'e\n');
    assert.deepEqual(JSON.parse(r.output[3] as string), { tty: [false, false], loaded: [] });
  });

  it('to /dev/null: direct (no terminal), no Node stream created', () => {
    const r = spawnSync(
      process.execPath,
      script(`stdout.write('gone\\n'); stderr.write('gone\\n'); ${REPORT_STREAMS}`),
      {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0);
    assert.deepEqual(JSON.parse(r.output[3] as string), { tty: [false, false], loaded: [] });
  });

  it('another character device (a terminal, under script(1)): Node stream, which says it is a terminal', () => {
    const child = [
      process.execPath,
      ...script(
        `stderr.write('on a tty\\n'); ${REPORT_STREAMS.replace('fs.writeSync(3, ', 'fs.writeFileSync(process.env.OUT, ')}`,
      ),
    ];
    const dir = tempDir();
    const out = path.join(dir, 'report');
    const r = spawnSync(
      'script',
      ['-qec', child.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' '), '/dev/null'],
      {
        env: { ...process.env, OUT: out },
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /on a tty/);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { tty: boolean[]; loaded: string[] };
    assert.deepEqual(report.tty, [true, true]);
    assert.ok(report.loaded.includes('NativeModule tty'), 'stderr went through Node stream');
  });

  it('a direct write that fails (EPIPE: the reader is gone) goes to Node stream, which fails as it always did', () => {
    const dir = tempDir();
    const outcome = (write: string): { status: string; err: string } => {
      const err = path.join(dir, 'err');
      // `true` has exited before the child writes: the pipe has no reader.
      const child = [process.execPath, ...script(`setTimeout(() => { ${write}; }, 300);`)].map(
        (a) => `'${a.replaceAll("'", "'\\''")}'`,
      );
      const r = spawnSync('bash', ['-c', `${child.join(' ')} 2>"$1" | true; echo "\${PIPESTATUS[0]}"`, 'bash', err], {
        encoding: 'utf8',
      });
      return { status: r.stdout.trim(), err: fs.readFileSync(err, 'utf8') };
    };
    const ours = outcome("stdout.write('hi\\n')");
    const node = outcome("process.stdout.write('hi\\n')");
    assert.equal(ours.status, node.status);
    assert.notEqual(node.status, '0');
    assert.match(ours.err, /Error: write EPIPE/, ours.err);
    assert.match(node.err, /Error: write EPIPE/, node.err);
  });
});
