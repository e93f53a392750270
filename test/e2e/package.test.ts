/**
 * The package as a user gets it: `npm pack`, installed into a fresh project, imported by name, and its `gg` run.
 * Dependencies come from npm's cache (npm ci filled it), so the test needs no network.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO, tempDir } from '../helpers/cli.js';

const npm = (cwd: string, ...args: string[]): string =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
  });

describe('the packed package', () => {
  it('installs, imports as gg-ts (SDK and force API), ships no tests or sources, and runs gg', () => {
    const out = tempDir('gg-pack-');
    const tarball = npm(REPO, 'pack', '--pack-destination', out).trim().split('\n').at(-1)!;
    const listing = execFileSync('tar', ['-tzf', path.join(out, tarball)], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('package/dist/src/index.js'), 'index.js is shipped');
    assert.deepEqual(
      listing.filter(
        (f) =>
          /^package\/(dist\/test|dist\/bench|test|bench|examples)\//.test(f) ||
          (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
      [],
      'tests, benchmarks and TypeScript sources stay out of the package',
    );
    for (const [bin, source] of [
      ['gg-memo-force', 'src/force/memo-force.c'],
      ['gg-spawner', 'src/sandbox/spawner.c'],
    ]) {
      assert.ok(!listing.includes(`package/dist/bin/${bin}`), `no binary built here is packed (${bin})`);
      assert.ok(listing.includes(`package/${source}`), `its source is, for postinstall (${source})`);
    }
    const project = tempDir('gg-user-');
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user', type: 'module' }));
    npm(project, 'install', path.join(out, tarball));
    const keys = execFileSync(
      process.execPath,
      ['-e', "import('gg-ts').then((m) => console.log(JSON.stringify(Object.keys(m))))"],
      { cwd: project, encoding: 'utf8' },
    );
    const names = JSON.parse(keys) as string[];
    for (const n of [
      'defineThunk',
      'GraphBuilder',
      'writeThunk',
      'openRuntime',
      'forceTargets',
      'verifyRefs',
      'GgError',
    ])
      assert.ok(names.includes(n), `${n} is exported: ${keys}`);
    const version = execFileSync(path.join(project, 'node_modules/.bin/gg'), ['--version'], { encoding: 'utf8' });
    assert.equal(version.trim(), '0.1.0');
    // The installed bundles (dist/bin) do real work: `gg force` replaces one placeholder, and another, run as a
    // program, is forced by gg-force-and-run and then runs (its output is a script).
    const placeholderA =
      'gg create-thunk --executable-file /bin/sh -o out -C a.txt -- /bin/sh sh -c "echo forced > out" >/dev/null';
    const script = [
      'gg init >/dev/null',
      placeholderA,
      `gg create-thunk --executable-file /bin/sh -o out -C b -- /bin/sh sh -c "printf '#!/bin/sh\\necho ran \\$1\\n' > out" >/dev/null`,
      'gg force --sandbox=none a.txt 2>/dev/null',
      'cat a.txt',
      './b x 2>/dev/null',
    ].join(' && ');
    const out2 = execFileSync('sh', ['-c', script], {
      cwd: project,
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${path.join(project, 'node_modules/.bin')}:${process.env['PATH']}`,
        GG_SANDBOX: 'none',
      },
    });
    assert.equal(out2, 'forced\nran x\n');
    // postinstall built the memoized-force fast path for this machine, and the launcher uses it: a.txt again as
    // its placeholder, forced from the memo without Node (it would say why it handed over).
    const fast = path.join(project, 'node_modules/gg-ts/dist/bin/gg-memo-force');
    assert.ok(fs.statSync(fast).mode & 0o100, 'postinstall built dist/bin/gg-memo-force');
    const spawner = path.join(project, 'node_modules/gg-ts/dist/bin/gg-spawner');
    assert.ok(fs.statSync(spawner).mode & 0o100, 'postinstall built dist/bin/gg-spawner');
    const out3 = execFileSync('sh', ['-c', `${placeholderA} && gg force --sandbox=none a.txt 2>&1 && cat a.txt`], {
      cwd: project,
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${path.join(project, 'node_modules/.bin')}:${process.env['PATH']}`,
        GG_MEMO_FAST_WHY: '1',
      },
    });
    assert.match(out3, /gg: \[1\/1\] executed 0, cached 1, failed 0 in [\d.]+ s\nforced\n$/);
    assert.doesNotMatch(out3, /hand over/);
  });
});
