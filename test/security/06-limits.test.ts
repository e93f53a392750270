/** Finding 6: --output-limit counted regular files only; a deep tree crashed gg and stayed; killed runs left run dirs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openRuntime } from '../../src/runtime.js';
import { force, JailProject, jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

describe('security 6: output limits count every entry; deep trees; stale run dirs', () => {
  const jail = jailSuite({ outputBytes: 1024 * 1024 });

  it('20,000 symlinks with long targets break a 1 MiB output limit', async () => {
    const long = 'x'.repeat(200);
    const t = rawThunk(jail.p, `mkdir l; seq 1 20000 | sed 's|^|/${long}/|' | xargs ln -s -t l; echo > out`, {
      tools: ['mkdir', 'seq', 'sed', 'xargs', 'ln'],
    });
    const r = await force(jail.rt, t);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT', r.error?.message ?? 'forced');
  });

  it('20,000 empty files in 2,000 directories break a 1 MiB output limit', async () => {
    const t = rawThunk(
      jail.p,
      'mkdir dirs files; cd dirs; seq 1 2000 | xargs mkdir; cd ../files; seq 1 20000 | xargs touch; cd ..; echo > out',
      { tools: ['mkdir', 'seq', 'xargs', 'touch'] },
    );
    const r = await force(jail.rt, t);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT', r.error?.message ?? 'forced');
  });

  it('a 3,000-deep directory tree is handled (no stack overflow) and removed', async (ctx) => {
    // On tmpfs: this machine's ext4 (mounted with discard) takes ~10 s to create and remove 3,000 directories.
    const saved = process.env['TMPDIR'];
    if (fs.existsSync('/dev/shm')) process.env['TMPDIR'] = '/dev/shm';
    const p = new JailProject();
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
    ctx.after(() => p.remove());
    const level = Array(1000).fill('d').join('/');
    // Built by moving 1,000-deep trees into each other: no path the shell uses is longer than PATH_MAX.
    const t = rawThunk(
      p,
      `mkdir -p a/${level} b/${level} c/${level} && echo deep > a/${level}/f && mv a b/${level}/ && mv b c/${level}/ && echo ok > out`,
      { tools: ['mkdir', 'mv'] },
    );
    const big = await p.runtime({ outputBytes: 64 * 1024 ** 2 });
    try {
      const r = await force(big, t);
      assert.equal(r.error, undefined, r.error?.message);
    } finally {
      await big.close();
    }
    assert.deepEqual(p.leftovers(), []);
  });

  it('run directories a killed gg left behind are swept when the next one starts', async () => {
    const dead = spawnSync('true').pid; // a pid that no longer runs
    // In the store's temp directory (unsandboxed runs, downloads) and in the jail's own (jail-home.ts).
    const plant = (tmp: string): { stale: string; mine: string } => {
      const stale = path.join(tmp, `run-${dead}-abc-1`);
      fs.mkdirSync(path.join(stale, 'a/b'), { recursive: true });
      fs.writeFileSync(path.join(stale, 'a/b/partial'), 'x'.repeat(1000));
      fs.writeFileSync(`${stale}.log`, 'log');
      const mine = path.join(tmp, `run-${process.pid}-abc-2`); // a live gg's: kept
      fs.mkdirSync(mine);
      return { stale, mine };
    };
    const planted = [plant(path.join(jail.p.ggDir, 'tmp')), plant(jail.p.scratchDir())];
    const rt2 = await openRuntime({ ggDir: jail.p.ggDir, sandbox: 'bwrap' });
    try {
      // The jail's directory is looked at when the first thunk runs there.
      const r = await force(rt2, jail.p.script('echo fresh > out').name);
      assert.equal(r.error, undefined, r.error?.message);
    } finally {
      await rt2.close();
    }
    for (const { stale, mine } of planted) {
      assert.equal(fs.existsSync(stale), false, stale);
      assert.equal(fs.existsSync(`${stale}.log`), false);
      assert.equal(fs.existsSync(mine), true);
      fs.rmdirSync(mine);
    }
  });
});
