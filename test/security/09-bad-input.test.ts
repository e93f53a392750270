/** Finding 9: bad input was a stack trace, a hang, an empty object, or blamed on the machine and retried. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { forceAll, type ForceEvent } from '../../src/force/force.js';
import { GG, run } from '../helpers/cli.js';
import { jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

/** One `error[GG_E_...]` line (+ hint), no stack trace, exit 1 or 2. */
function assertCleanError(r: { status: number | null; stderr: string }, code: string, what: string): void {
  assert.ok(r.status === 1 || r.status === 2, `${what}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^error\\[${code}\\]: `), `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a stack trace`);
}

describe('security 9: bad input is a clear user error', () => {
  const jail = jailSuite();

  it('a directory, a FIFO, /dev/zero, a /proc file: GG_E_FILE_TYPE, no hang, no empty object', () => {
    const env = { GG_DIR: jail.p.ggDir };
    const dir = path.join(jail.p.dir, 'a-dir');
    fs.mkdirSync(dir);
    const fifo = path.join(jail.p.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const args of [
      ['hash', dir],
      ['force', dir],
      ['describe', dir],
      ['collect', dir],
      ['hash', fifo],
      ['collect', fifo],
      ['force', fifo],
      ['hash', '/dev/zero'],
      ['collect', '/proc/self/status'],
    ]) {
      const r = run(jail.p.dir, args, { env, timeoutMs: 20_000 });
      assertCleanError(r, 'GG_E_FILE_TYPE', `gg ${args.join(' ')}`);
    }
  });

  it('a NUL byte, a 300 KB argument, 2 MB of environment, 3,000 variables: GG_E_THUNK_INVALID, never retried as GG_E_INFRA', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `V${i}=${'v'.repeat(700)}`);
    const cases = [
      rawThunk(jail.p, 'echo > out', {
        function: { hash: jail.p.sh.name, args: ['sh', '-c', 'echo > out', 'a\0b'], envars: [] },
      }),
      rawThunk(jail.p, 'echo > out', {
        function: { hash: jail.p.sh.name, args: ['sh', '-c', 'echo > out', 'x'.repeat(300 * 1024)], envars: [] },
      }),
      rawThunk(jail.p, 'echo > out', {
        function: { hash: jail.p.sh.name, args: ['sh', '-c', 'echo > out'], envars: many },
      }),
      rawThunk(jail.p, 'echo > out', {
        function: { hash: jail.p.sh.name, args: ['sh', '-c', 'echo > out'], envars: many.map((e) => e.slice(0, 8)) },
      }),
    ];
    for (const t of cases) {
      const events: ForceEvent[] = [];
      const o = await forceAll([t], {
        store: jail.rt.store,
        engine: jail.rt.engine,
        jobs: 1,
        onEvent: (e) => events.push(e),
      });
      assert.equal(o.errors.get(t)?.code, 'GG_E_THUNK_INVALID', o.errors.get(t)?.message ?? 'forced');
      assert.equal(events.filter((e) => e.type === 'retry').length, 0);
    }
  });

  it('a .gg this user may not write: GG_E_PERMISSION', () => {
    const f = path.join(jail.p.dir, 'file.txt');
    fs.writeFileSync(f, 'content\n');
    fs.chmodSync(jail.p.dir, 0o755);
    // As nobody: the .gg (root's, 0755) is read-only to it.
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GG, 'collect', f],
      {
        cwd: jail.p.dir,
        env: { ...process.env, GG_DIR: jail.p.ggDir },
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assertCleanError({ status: r.status, stderr: r.stderr }, 'GG_E_PERMISSION', 'collect into a read-only .gg');
  });
});
