/**
 * gg force with a shared store: two machines (two .gg directories) and one real redis-server / S3 server.
 * The second force of the same graph executes nothing and downloads only its targets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { project, run } from '../helpers/cli.js';
import { s3Env, startRedis, startS3, type RunningServer } from '../helpers/servers.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

interface Summary {
  executed: number;
  cached: number;
  targets: { result?: string; error?: string }[];
}

/** The same three-thunk graph on a fresh machine: an input file, a step, and a target depending on it. */
function machine(): { dir: string; target: string; input: string } {
  const dir = project();
  const s = new ShellThunks(dir);
  const input = s.g.value('shared input\n');
  const step = s.script('tr a-z A-Z < in > out', { values: [{ name: input, filename: 'in' }] });
  const top = s.script('cat step > out; echo done >> out', { thunks: [{ name: step.name, filename: 'step' }] });
  s.close();
  writePlaceholder(path.join(dir, 'result.txt'), top.name);
  return { dir, target: top.name, input };
}

function blobs(dir: string): string[] {
  return fs.readdirSync(path.join(dir, '.gg/blobs'));
}

for (const backend of ['redis', 's3'] as const) {
  describe(`gg force --storage (${backend})`, () => {
    let server: RunningServer;
    const env = backend === 's3' ? s3Env : {};
    before(async () => {
      server = backend === 'redis' ? await startRedis() : await startS3();
    });
    after(async () => server.stop());

    it('shares the memo: a second machine executes nothing and downloads only its target', () => {
      const a = machine();
      const r1 = run(a.dir, ['force', '--storage', server.uri, '--sandbox=none', '--json', 'result.txt'], { env });
      assert.equal(r1.status, 0, r1.stderr);
      assert.equal((JSON.parse(r1.stdout) as Summary).executed, 2);
      assert.equal(fs.readFileSync(path.join(a.dir, 'result.txt'), 'utf8'), 'SHARED INPUT\ndone\n');

      const b = machine();
      const before = new Set(blobs(b.dir));
      const r2 = run(b.dir, ['force', '--sandbox=none', '--json', 'result.txt'], {
        env: { ...env, GG_STORAGE_URI: server.uri },
      });
      assert.equal(r2.status, 0, r2.stderr);
      const s2 = JSON.parse(r2.stdout) as Summary;
      assert.equal(s2.executed, 0);
      assert.equal(fs.readFileSync(path.join(b.dir, 'result.txt'), 'utf8'), 'SHARED INPUT\ndone\n');
      const downloaded = blobs(b.dir).filter((n) => !before.has(n));
      assert.deepEqual(downloaded, [s2.targets[0]!.result]);
    });

    it('fails before any work on a bad storage URI', () => {
      const a = machine();
      const r = run(a.dir, ['force', '--storage', 'redis://127.0.0.1:1', 'result.txt']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /error\[GG_E_STORAGE_UNREACHABLE\]/);
      assert.match(fs.readFileSync(path.join(a.dir, 'result.txt'), 'utf8'), /gg-force-and-run/);
    });
  });
}
