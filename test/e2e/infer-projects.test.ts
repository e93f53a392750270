/**
 * gg infer on real projects (from ../shared/tools/get-source), a slim subset of bench/corpus.sh: lua with
 * make, zlib with CMake + Ninja (shared library), cJSON with CMake + Ninja and -Werror, FriBidi with Meson +
 * Ninja (it builds and runs its own table generators); git with make only when GG_E2E_GIT=1 (it takes
 * minutes; the corpus builds it). Each builds through gg infer + gg force and passes its own checks.
 * Every thunk runs in the bubblewrap jail, which proves the declared toolchain is complete;
 * GG_TEST_SANDBOX=none runs them unisolated instead.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cProject, forceTree, isPlaceholder, placeholdersIn, sh, shOk, sourceCopy } from '../helpers/c-project.js';

const SANDBOX = process.env['GG_TEST_SANDBOX'] ?? 'bwrap';

function cleanup(...dirs: string[]): void {
  if (process.env['GG_KEEP_E2E'] === '1') return;
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}

function stripped(file: string): Buffer {
  const out = `${file}.stripped-${process.pid}`;
  shOk(path.dirname(file), `strip --strip-debug -o '${out}' '${file}'`);
  const data = fs.readFileSync(out);
  fs.rmSync(out);
  return data;
}

describe('gg infer on real projects', { concurrency: 1 }, () => {
  it('lua 5.4: make posix; lua runs; objects equal a plain build; make clean + infer + force is all memoized', (t) => {
    const dir = sourceCopy('lua5.4');
    if (!dir) return t.skip('get-source lua5.4 failed (no network?)');
    const plain = sourceCopy('lua5.4')!;
    t.after(() => cleanup(dir, plain));
    shOk(plain, 'make -j2 posix');
    shOk(dir, `gg init >/dev/null && gg infer make -j2 posix && gg force --sandbox=${SANDBOX} --jobs 2 src/lua`);
    assert.equal(shOk(dir, `src/lua -e 'print(1+1)'`), '2\n');
    shOk(dir, `gg force --sandbox=${SANDBOX} -s -j2 src/*.o src/liblua.a src/luac`);
    for (const o of fs.readdirSync(path.join(plain, 'src')).filter((f) => f.endsWith('.o'))) {
      assert.ok(
        stripped(path.join(dir, 'src', o)).equals(stripped(path.join(plain, 'src', o))),
        `${o} differs from the plain build`,
      );
    }
    shOk(dir, 'make clean >/dev/null && gg infer make -j2 posix');
    const s = JSON.parse(shOk(dir, `gg force --sandbox=${SANDBOX} --json -j2 src/lua src/luac`)) as {
      executed: number;
    };
    assert.equal(s.executed, 0);
    assert.equal(shOk(dir, `src/luac -v`).startsWith('Lua 5.4'), true);
  });

  it('zlib: cmake -G Ninja and ninja through gg infer; the example test passes (static and shared)', (t) => {
    const dir = sourceCopy('zlib');
    if (!dir) return t.skip('get-source zlib failed (no network?)');
    t.after(() => cleanup(dir));
    // Debian's dfsg tarball drops win32/, which zlib's CMakeLists.txt names even on Linux.
    fs.mkdirSync(path.join(dir, 'win32'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'win32/zlib1.rc'), '');
    fs.mkdirSync(path.join(dir, 'build'));
    const build = path.join(dir, 'build');
    shOk(dir, 'gg init >/dev/null');
    shOk(build, 'gg infer cmake -G Ninja .. >/dev/null && gg infer ninja');
    for (const f of ['example', 'minigzip', 'libz.a', 'libz.so.1.2.13'])
      assert.ok(isPlaceholder(path.join(build, f)), `${f} is a placeholder`);
    forceTree(build, SANDBOX);
    assert.match(shOk(build, './example'), /inflate with dictionary: hello, hello!/);
    assert.match(shOk(build, './example64'), /large_inflate\(\): OK/);
    assert.match(shOk(build, 'echo hello gg | ./minigzip | ./minigzip -d'), /hello gg/);
    assert.match(shOk(build, 'ldd ./example'), /libz\.so\.1 => .*build\/libz\.so\.1/);
  });

  it('cJSON: cmake -G Ninja with its -Werror flags and its tests; ctest passes', (t) => {
    const dir = sourceCopy('cjson');
    if (!dir) return t.skip('get-source cjson failed (no network?)');
    t.after(() => cleanup(dir));
    const build = path.join(dir, 'build');
    fs.mkdirSync(build);
    shOk(dir, 'gg init >/dev/null');
    const r = sh(build, 'gg infer cmake -G Ninja -DENABLE_CJSON_TEST=On .. >/dev/null && gg infer ninja');
    assert.equal(r.status, 0, r.stderr);
    assert.match(fs.readFileSync(path.join(dir, 'CMakeLists.txt'), 'utf8'), /-Werror/);
    assert.doesNotMatch(
      fs.readFileSync(path.join(dir, '.gg/cache/infer/last-run.log'), 'utf8'),
      /^real cc/m,
      'every compile of the build is modelled',
    );
    assert.ok(isPlaceholder(path.join(build, 'libcjson.so.1.7.15')));
    forceTree(build, SANDBOX);
    assert.match(shOk(build, 'readelf -d libcjson.so.1.7.15'), /SONAME.*libcjson\.so\.1\]/);
    shOk(build, 'ctest -Q');
  });

  it('FriBidi: meson + ninja; its table generators are built and run during the build; meson test passes', (t) => {
    const dir = sourceCopy('fribidi');
    if (!dir) return t.skip('get-source fribidi failed (no network?)');
    t.after(() => cleanup(dir));
    shOk(dir, 'gg init >/dev/null && gg infer meson setup build -Ddocs=false >/dev/null');
    const r = sh(dir, 'gg infer ninja -C build');
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      fs.readFileSync(path.join(dir, 'build/gen.tab/fribidi-unicode-version.h'), 'utf8'),
      /FRIBIDI_UNICODE_VERSION/,
      'a generator ran',
    );
    if (SANDBOX === 'bwrap') {
      // in the jail the generators' runs are thunks (ninja gives them /dev/null as stdin, they write stdout)
      const runs = /(\d+) program runs answered by thunks/.exec(r.stderr);
      assert.ok(runs && Number(runs[1]) >= 7, `the table generators' runs are thunks:\n${r.stderr.slice(-2000)}`);
      // a rebuild answers them from the memo (the generators stay placeholders and do not run)
      const again = sh(dir, 'ninja -C build clean >/dev/null && gg infer ninja -C build');
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, new RegExp(`${runs[1]} program runs answered by thunks`));
    }
    forceTree(dir, SANDBOX);
    shOk(dir, 'meson test -C build -q');
  });

  it(
    'git: make; t0000-basic, t0001-init and t3000-ls-files-others pass',
    {
      skip:
        process.env['GG_E2E_GIT'] !== '1' && 'git takes minutes: bench/corpus.sh builds it; GG_E2E_GIT=1 runs it here',
    },
    (t) => {
      const dir = sourceCopy('git');
      if (!dir) return t.skip('get-source git failed (no network?)');
      t.after(() => cleanup(dir));
      const flags = 'NO_CURL=1 NO_GETTEXT=1 NO_TCLTK=1 NO_PERL=1 NO_PYTHON=1';
      shOk(dir, `gg init >/dev/null && gg infer make -j2 ${flags} >/dev/null`);
      assert.ok(placeholdersIn(dir).length > 100);
      forceTree(dir, SANDBOX);
      assert.match(shOk(dir, './git --version'), /^git version/);
      for (const test of ['t0000-basic.sh', 't0001-init.sh', 't3000-ls-files-others.sh']) {
        const r = sh(path.join(dir, 't'), `bash ${test}`);
        assert.equal(r.status, 0, `${test} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      }
    },
  );

  it('the hello-c example builds and is memoized after make clean', () => {
    const dir = cProject({});
    fs.cpSync(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../examples/hello-c'), dir, {
      recursive: true,
    });
    shOk(dir, `gg infer make -j2 && gg force --sandbox=${SANDBOX} -j2 hello`);
    assert.match(shOk(dir, './hello'), /hello, world/);
    shOk(dir, 'make clean && gg infer make -j2');
    const s = JSON.parse(shOk(dir, `gg force --sandbox=${SANDBOX} --json -j2 hello`)) as { executed: number };
    assert.equal(s.executed, 0);
  });
});
