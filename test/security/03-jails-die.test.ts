/** Finding 3: killing gg (SIGKILL, SIGTERM, SIGINT) left its jailed programs running; Ctrl-C says what it stopped. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JailProject, processesWith, waitUntil } from '../helpers/jail-thunks.js';
import { collectOutput, rawThunk, spawnGg } from './helpers.js';

describe('security 3: every way gg ends ends its jails', () => {
  let p: JailProject;
  before(() => {
    p = new JailProject();
  });
  after(() => p.remove());

  for (const sig of ['SIGKILL', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${sig} to gg force kills the jailed program`, async () => {
      const marker = `gg-sec3-${sig}-${process.pid}`;
      const t = rawThunk(p, 'sleep 300; true', { tools: ['sleep'], argv0: marker });
      const child = spawnGg(p.dir, ['force', '-s', t]);
      const done = collectOutput(child);
      try {
        await waitUntil('the jailed sleep to start', () => processesWith(marker).length > 0);
        child.kill(sig);
        await done;
        await waitUntil(`the jailed sleep to die after ${sig}`, () => processesWith(marker).length === 0, 5000);
      } finally {
        for (const pid of processesWith(marker)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // ended meanwhile
          }
        }
      }
    });
  }

  it('Ctrl-C (SIGINT) stops the run, says what it stopped, and a second force resumes', async () => {
    const marker = `gg-sec3-int-${process.pid}`;
    const first = rawThunk(p, 'echo first > out');
    const slow = rawThunk(p, 'sleep 2; cat in > out', {
      tools: ['sleep', 'cat'],
      thunks: [{ name: first, filename: 'in' }],
      argv0: marker,
    });
    const child = spawnGg(p.dir, ['force', '-s', '--json', slow]);
    const done = collectOutput(child);
    await waitUntil('the slow thunk to start', () => processesWith(marker).length > 0);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted: stopped 1 running thunk/);
    assert.match(r.stderr, /run the same command again to resume/);
    await waitUntil('the jailed program to die', () => processesWith(marker).length === 0, 5000);
    const again = await collectOutput(spawnGg(p.dir, ['force', '-s', '--json', slow]));
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { executed: number; cached: number; targets: { result: string }[] };
    assert.equal(summary.executed, 1, 'only the stopped thunk runs again');
    assert.equal(summary.cached, 1, 'the finished one comes from the memo');
    assert.equal(p.text(summary.targets[0]!.result), 'first\n');
  });
});
