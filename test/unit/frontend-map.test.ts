/**
 * gg map against GNU parallel and xargs on the same inputs: same stdout, same files, same exit status on
 * failures; then a rerun from the memo runs nothing. Every gg map run is real thunks in the default jail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commandFor, replacements } from '../../src/frontend/map/map.js';
import { project, run } from '../helpers/cli.js';

function host(
  cwd: string,
  cmd: string,
  args: string[],
  input = '',
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', input });
  if (r.error) throw new Error(`${cmd} is needed for this test (CI installs it): ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const parallel = (cwd: string, args: string[], input = ''): ReturnType<typeof host> =>
  host(cwd, 'parallel', ['--will-cite', '-k', ...args], input);

/** Files under dir (relative), .gg excluded, with their bytes. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name === '.gg') continue;
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

describe('gg map', () => {
  let dir: string;
  let twin: string;
  const inputs = ['a.txt', 'sub/b.txt', 'with space.txt'];

  before(() => {
    dir = project();
    twin = fs.mkdtempSync(path.join(path.dirname(dir), 'gg-map-twin-'));
    for (const d of [dir, twin]) {
      fs.mkdirSync(path.join(d, 'sub'));
      fs.writeFileSync(path.join(d, 'a.txt'), 'alpha\n');
      fs.writeFileSync(path.join(d, 'sub/b.txt'), 'beta\nbeta\n');
      fs.writeFileSync(path.join(d, 'with space.txt'), 'gamma gamma gamma\n');
    }
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(twin, { recursive: true, force: true });
  });

  it("replacement strings are GNU parallel's", () => {
    const r = parallel(twin, [
      'echo',
      '{}',
      '{.}',
      '{/}',
      '{//}',
      '{/.}',
      '{#}',
      ':::',
      'a.txt',
      'd/b.c.d',
      '/x/y',
      'noext',
    ]);
    const ours =
      ['a.txt', 'd/b.c.d', '/x/y', 'noext'].map((i, k) => Object.values(replacements(i, k + 1)).join(' ')).join('\n') +
      '\n';
    assert.equal(ours, r.stdout);
    assert.deepEqual(commandFor(['wc', '-c'], 'x y', 1), ['wc', '-c', 'x y']);
    assert.deepEqual(commandFor(["grep -c a {} | tr -d ' '"], "it's", 1), [
      'sh',
      '-c',
      "grep -c a 'it'\\''s' | tr -d ' '",
    ]);
  });

  it('same stdout as parallel -k and xargs -I{} for a program over files (::: and stdin)', () => {
    const p = parallel(twin, ['wc', '-c', '{}', ':::', ...inputs]);
    const x = host(twin, 'xargs', ['-d', '\n', '-I{}', 'wc', '-c', '{}'], inputs.join('\n') + '\n');
    assert.equal(p.stdout, x.stdout);
    const g = run(dir, ['map', '-j', '2', '--', 'wc', '-c', '{}', ':::', ...inputs]);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stdout, p.stdout);
    const fromStdin = run(dir, ['map', '-s', '--', 'wc', '-c'], { input: inputs.join('\n') + '\n' });
    assert.equal(fromStdin.stdout, p.stdout);
  });

  it('same exit status as parallel when inputs fail, failed inputs named; xargs agrees on which', () => {
    const nums = ['1', '2', '3', '4', '5'];
    const p = parallel(twin, ['test {} -lt 3', ':::', ...nums]);
    assert.equal(p.status, 3);
    const g = run(dir, ['map', '-s', '--', 'test {} -lt 3', ':::', ...nums]);
    assert.equal(g.status, p.status);
    for (const n of ['3', '4', '5']) assert.match(g.stderr, new RegExp(`input ${n} '${n}' failed: exit status 1`));
    assert.doesNotMatch(g.stderr, /input [12] /);
    const x = host(twin, 'xargs', ['-I{}', 'sh', '-c', 'test {} -lt 3 || { echo {}; exit 1; }'], nums.join('\n'));
    assert.equal(x.status, 123); // xargs only says "some failed"
    assert.equal(x.stdout, '3\n4\n5\n');
  });

  it("writes outputs back as parallel leaves them (gzip -k), and --results in parallel's layout", () => {
    const p = parallel(twin, ['--results', 'res', 'gzip', '-k', '-n', '{}', ':::', ...inputs]);
    assert.equal(p.status, 0, p.stderr);
    const g = run(dir, [
      'map',
      '-s',
      '-o',
      '{}.gz',
      '--results',
      'res',
      '--',
      'gzip',
      '-k',
      '-n',
      '{}',
      ':::',
      ...inputs,
    ]);
    assert.equal(g.status, 0, g.stderr);
    assert.deepEqual(tree(dir), tree(twin));
  });

  it('a rerun is answered by the memo: nothing runs, same outputs', () => {
    const g = run(dir, ['map', '-o', '{}.gz', '--', 'gzip', '-k', '-n', '{}', ':::', ...inputs]);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stderr, /3 inputs, 0 failed; 0 run, \d+ from the memo/);
  });

  it('--with declares a data file; an output the command does not write is a failure; -a reads inputs', () => {
    fs.writeFileSync(path.join(dir, 'greeting'), 'hello ');
    fs.writeFileSync(path.join(dir, 'list'), 'a.txt\nsub/b.txt\n');
    const g = run(dir, ['map', '-s', '--with', 'greeting', '-a', 'list', '--', 'cat greeting {}']);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stdout, 'hello alpha\nhello beta\nbeta\n');
    const m = run(dir, ['map', '-s', '-o', '{}.none', '--', 'true', ':::', 'a.txt']);
    assert.equal(m.status, 1);
    assert.match(m.stderr, /input 1 'a.txt' failed: did not write a.txt.none/);
  });

  it('refuses outputs outside the current directory and several input sources', () => {
    const r = run(dir, ['map', '-o', '../{}.x', '--', 'true', ':::', 'a.txt']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error\[GG_E_USAGE\]: output '\.\.\/a\.txt\.x' is not a path inside the current directory/);
    const two = run(dir, ['map', '--', 'echo', ':::', 'a', ':::', 'b']);
    assert.match(two.stderr, /error\[GG_E_USAGE\]: more than one ::: or :::: input source/);
  });
});
