/**
 * `gg force` without commander (src/cli/force-argv.ts): every argument list it accepts must give exactly the
 * options and targets commander gives for it (both real parsers, side by side), and everything else must be
 * left to commander. Then the same force through both, as a user runs it: identical output, --json, exit code,
 * placed files and job trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseForceArgv } from '../../src/cli/force-argv.js';
import { buildProgram } from '../../src/cli/main.js';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { GG, project } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

async function viaCommander(args: string[]): Promise<{ targets: string[]; opts: Record<string, unknown> }> {
  const program = await buildProgram(['node', 'gg', 'force']);
  const force = program.commands.find((c) => c.name() === 'force')!;
  const { operands, unknown } = force.parseOptions(args);
  assert.deepEqual(unknown, [], `commander found unknown options in ${args.join(' ')}`);
  return { targets: operands, opts: force.opts() };
}

describe('gg force without commander', () => {
  it('accepts the usual arguments and parses them exactly as commander does', async () => {
    const accepted = [
      ['t1', 't2'],
      ['-j', '2', 't'],
      ['-j2', 't'],
      ['--jobs=3', 't'],
      ['--jobs', '4', 't'],
      ['-j', '1', 't', '--jobs', '7'],
      ['--sandbox=none', 't'],
      ['--sandbox', 'none', 't'],
      ['--sandbox=bogus', 't'],
      ['t', '--json', '-s', '--no-trace', '-v'],
      ['--no-status', '--verbose', 't', 'u'],
      ['--json', 'sub/dir/t', 'T0000000000000000000000000000000000000000000000000000000'],
    ];
    for (const args of accepted) {
      const fast = parseForceArgv(args);
      assert.ok(fast, `not accepted: ${args.join(' ')}`);
      assert.deepEqual(fast, await viaCommander(args), args.join(' '));
    }
  });

  it('leaves everything else to commander', () => {
    const declined = [
      [],
      ['--json'],
      ['--jobs', 'x', 't'],
      ['--jobs', '99999999', 't'],
      ['-j=2', 't'],
      ['--jobs', '-1', 't'],
      ['-j'],
      ['--', 't'],
      ['-', 't'],
      ['-sv', 't'],
      ['--check', 't'],
      ['--engine', 'local', 't'],
      ['--storage', 'redis://127.0.0.1:1', 't'],
      ['--sandbox', '--json', 't'],
      ['--help'],
      ['t', '-h'],
    ];
    for (const args of declined) assert.equal(parseForceArgv(args), undefined, args.join(' '));
  });

  it('forces the same way either way: output, --json, exit code, placed files, job trace', () => {
    // `--engine local` is commander's (the default value, so the same force): the full path beside the short one.
    const runs = [[], ['--engine', 'local']].map((extra) => {
      const dir = project();
      const s = new ShellThunks(dir);
      const ok = s.script('echo ok > out');
      const bad = s.script('exit 3');
      s.close();
      writePlaceholder(path.join(dir, 'a'), ok.name);
      writePlaceholder(path.join(dir, 'b'), ok.name);
      writePlaceholder(path.join(dir, 'c'), bad.name);
      const clean = (text: string): string => text.replaceAll(dir, 'DIR').replace(/\d+(\.\d+)? (s|ms)\b/g, 'N $2');
      const gg = (...args: string[]) => {
        const r = spawnSync(GG, ['force', ...extra, ...args], {
          cwd: dir,
          encoding: 'utf8',
          env: { ...process.env, GG_DIR: '' },
        });
        return { status: r.status, stdout: clean(r.stdout), stderr: clean(r.stderr) };
      };
      const first = gg('--sandbox=none', '-j', '1', 'a', 'c');
      const json = gg('--sandbox=none', '--json', 'b', 'a');
      const again = gg('--sandbox', 'none', 'b');
      // The job traces, less what differs from run to run (times, ids, pids, paths, the command line).
      const varying = new Set(['t', 'start', 'id', 'pid', 'argv', 'cwd', 'targets', 'store', 'wallMs', 'cpuMs']);
      const records = fs
        .readdirSync(path.join(dir, '.gg/jobs'))
        .sort()
        .map((t) =>
          fs
            .readFileSync(path.join(dir, '.gg/jobs', t), 'utf8')
            .trim()
            .split('\n')
            .map((l) => Object.entries(JSON.parse(l) as Record<string, unknown>).filter(([k]) => !varying.has(k))),
        );
      const summary = JSON.parse(json.stdout) as { wall_ms: number; job: string };
      summary.wall_ms = 0;
      summary.job = 'ID';
      return {
        first,
        json: { ...json, stdout: summary },
        again,
        files: ['a', 'b', 'c'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8')),
        records,
      };
    });
    assert.equal(runs[0]!.first.status, 1);
    assert.equal(runs[0]!.json.status, 0);
    assert.deepEqual(runs[0]!.files.slice(0, 2), ['ok\n', 'ok\n']);
    assert.deepEqual(runs[0], runs[1]);
  });
});
