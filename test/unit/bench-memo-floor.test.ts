/**
 * bench/memo-floor.cjs, the "floor" row of bench/original-gg.sh, does the file work of a memoized `gg force` and
 * nothing else. Its timings bound gg-ts's only if it does that work: on the same placeholders it must leave what
 * gg leaves (each output's bytes, the placeholder's mode, nothing else in the directory).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { project, REPO, run } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

const FLOOR = path.join(REPO, 'bench/memo-floor.cjs');

/** Each file of `dir` with its bytes and mode. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort())
    out[f] =
      `${(fs.statSync(path.join(dir, f)).mode & 0o7777).toString(8)} ${fs.readFileSync(path.join(dir, f), 'utf8')}`;
  return out;
}

describe('bench/memo-floor.cjs', () => {
  it('places memoized outputs as gg force does: the same bytes, the placeholders modes, no temp left', () => {
    const dir = project();
    const s = new ShellThunks(dir);
    const names = Array.from({ length: 6 }, (_, i) => s.script(`printf 'output ${i}\\n' > out`).name);
    s.close();
    const t = path.join(dir, 't');
    const files = names.map((n) => `t/${n}`);
    const placeholders = (): void => {
      fs.rmSync(t, { recursive: true, force: true });
      fs.mkdirSync(t);
      names.forEach((n, i) =>
        fs.writeFileSync(path.join(t, n), `#!/usr/bin/env gg-force-and-run\n${n}\n`, { mode: i === 1 ? 0o755 : 0o644 }),
      );
      fs.chmodSync(path.join(t, names[1]!), 0o755); // whatever the umask
    };
    placeholders();
    const cold = run(dir, ['force', '--sandbox=none', ...files]);
    assert.equal(cold.status, 0, cold.stderr);

    placeholders();
    const floor = spawnSync(process.execPath, [FLOOR, ...files], { cwd: dir, encoding: 'utf8' });
    assert.equal(floor.status, 0, floor.stderr);
    const byFloor = snapshot(t);

    placeholders();
    const warm = run(dir, ['force', '--sandbox=none', ...files]);
    assert.equal(warm.status, 0, warm.stderr);
    const byGg = snapshot(t);

    assert.deepEqual(byFloor, byGg);
    assert.equal(Object.keys(byGg).length, names.length, 'no temp file left');
    assert.equal(byGg[names[0]!], '644 output 0\n');
    assert.equal(byGg[names[1]!], '755 output 1\n');
  });
});
