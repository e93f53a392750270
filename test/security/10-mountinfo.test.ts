/**
 * Finding 10: /proc/self/mountinfo in the jail named the host paths of the staged root and the run directory
 * (a bind mount's line shows its source's path within its file system). Fixed by where those directories
 * live (src/sandbox/jail-home.ts): at the root of the store's file system, `/.gg-jail/<id>/...`, so what a
 * thunk reads there names neither the project nor the store. Checked by default, with `.gg` on a file system
 * of its own, and the safe fallback when `.gg-jail` could be someone else's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forceAll } from '../../src/force/force.js';
import type { Runtime } from '../../src/runtime.js';
import { tempDir } from '../helpers/cli.js';
import { JailProject } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

const READ_MOUNTS = 'cat /proc/self/mountinfo /proc/1/mountinfo > out';

async function mountinfoSeen(p: JailProject, rt: Runtime): Promise<string> {
  const t = rawThunk(p, READ_MOUNTS, { tools: ['cat'] });
  const o = await forceAll([t], { store: rt.store, engine: rt.engine, jobs: 1 });
  assert.equal(o.errors.size, 0, [...o.errors.values()].map((e) => e.message).join());
  return p.text((await rt.store.getReduction(t))!);
}

describe('security 10: what /proc/self/mountinfo tells a thunk', () => {
  let project: string;
  let mnt: string;
  let mounted = false;
  before(() => {
    // The project's .gg is the mount point of a tmpfs. Mounting needs root (CAP_SYS_ADMIN), as gg's jail
    // does; CI runs as root.
    project = path.join(tempDir('gg-own-fs-'), 'secret-project-name');
    mnt = path.join(project, '.gg');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0755', 'gg-store', mnt]);
    mounted = true;
  });
  after(() => {
    if (mounted) execFileSync('umount', ['-l', mnt]);
    fs.rmSync(path.dirname(project), { recursive: true, force: true });
  });

  it('by default it names neither the project nor the store: only /.gg-jail/<id>/...', async () => {
    const p = new JailProject();
    const rt = await p.runtime();
    try {
      const seen = await mountinfoSeen(p, rt);
      for (const hostPath of [p.dir, p.ggDir, path.basename(p.dir)])
        assert.ok(!seen.includes(hostPath), `${hostPath} is visible in the jail:\n${seen}`);
      assert.match(seen, / \/\.gg-jail\/[0-9a-f]{24}\/roots\/[0-9a-f]+ \/ /, 'the root');
      assert.match(seen, / \/\.gg-jail\/[0-9a-f]{24}\/tmp\/run-\d+-[0-9a-z]+ \/gg\/work /, 'the run directory');
      assert.ok(!rt.notices().some((n) => n.includes('jail directories')), 'no fallback notice');
    } finally {
      await rt.close();
      p.remove();
    }
  });

  it('with .gg on a file system of its own, no host path reaches the thunk', async () => {
    const p = new JailProject(project);
    assert.equal(p.ggDir, mnt);
    const rt = await p.runtime();
    try {
      const seen = await mountinfoSeen(p, rt);
      assert.ok(seen.length > 0);
      for (const hostPath of [project, 'secret-project-name', 'gg-own-fs-']) {
        assert.ok(!seen.includes(hostPath), `${hostPath} is visible in the jail:\n${seen}`);
      }
      // What is left are paths inside the store's own file system: /.gg-jail/<id>/roots/<hash>, .../tmp/run-...
      assert.match(seen, / \/\.gg-jail\/[0-9a-f]{24}\/roots\/[0-9a-f]+ \/ /);
    } finally {
      await rt.close(); // the project and its mounted .gg go in after()
    }
  });
});
