/**
 * `gg force --jobs N` never runs more than N thunks at once. Measured with real programs: each thunk appends
 * "start"/"end" to a log outside its run directory (--sandbox=none), and the log's running count is the measure.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { project, run } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

/** The most thunks the log shows running at one time. */
function peak(log: string): number {
  let now = 0;
  let most = 0;
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    if (line.startsWith('start')) most = Math.max(most, ++now);
    else if (line.startsWith('end')) now--;
  }
  return most;
}

describe('gg force --jobs', () => {
  for (const [jobs, count] of [
    [1, 3],
    [3, 10],
  ] as const) {
    it(`--jobs ${jobs}: ${count} thunks, never more than ${jobs} running, and ${jobs} reached`, () => {
      const dir = project();
      const log = path.join(dir, 'running.log');
      const s = new ShellThunks(dir);
      const names = Array.from(
        { length: count },
        (_, i) => s.script(`echo start ${i} >> ${log}; sleep 0.3; echo end ${i} >> ${log}; echo ${i} > out`).name,
      );
      s.close();
      const r = run(dir, ['force', '--sandbox=none', '--jobs', String(jobs), '--json', ...names]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { executed: number }).executed, count);
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      assert.equal(lines.length, 2 * count, 'every thunk ran once');
      assert.equal(peak(log), jobs);
    });
  }
});
