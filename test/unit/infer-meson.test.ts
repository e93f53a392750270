/**
 * Meson's wrappers, which build.ninja runs by absolute path (`/usr/bin/meson --internal exe --capture ...`,
 * `--internal symbolextractor`), are reached by gg infer through a mount namespace (intercept.ts) and
 * answered by models (meson-model.ts): a rebuild starts no Python for them, and writes what Meson would.
 * Real meson, ninja and gcc; the interception needs root (CI runs as root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RunRealTool } from '../../src/frontend/infer/model.js';
import { symbolsFile } from '../../src/frontend/infer/meson-model.js';
import { tempDir } from '../helpers/cli.js';
import { sh, writeFiles } from '../helpers/c-project.js';

const FILES: Record<string, string> = {
  'meson.build': [
    "project('m', 'c')",
    "gen = executable('gen', 'gen.c', native: true)",
    // a generator the build linked: its run is a thunk, the wrapper a model
    "hdr = custom_target('hdr', output: 'count.h', input: 'in.txt', command: [gen, '@INPUT@', 'COUNT'], capture: true)",
    // a program found on PATH (not one the build linked): the wrapper runs for real
    "copy = custom_target('copy', output: 'copy.txt', input: 'in.txt', command: [find_program('cat'), '@INPUT@'], capture: true, build_by_default: true)",
    "lib = shared_library('m', 'lib.c', hdr, version: '1.2.3')",
    "executable('main', 'main.c', hdr, link_with: lib)",
    '',
  ].join('\n'),
  'gen.c': [
    '#include <stdio.h>',
    'int main(int argc, char **argv) {',
    '  FILE *f = fopen(argv[1], "r"); int c, n = 0;',
    '  if (!f) { perror(argv[1]); return 1; }',
    '  while ((c = getc(f)) != EOF) n += c == 10;',
    '  printf("#define %s %d\\n", argv[2], n);',
    '  fprintf(stderr, "gen: counted %d\\n", n);',
    '  return 0;',
    '}',
    '',
  ].join('\n'),
  'in.txt': 'a\nb\nc\n',
  'lib.c': '#include "count.h"\nint m_count(void) { return COUNT; }\nint m_table[COUNT] = {1};\n',
  'main.c': '#include <stdio.h>\nint m_count(void);\nint main(void) { printf("%d\\n", m_count()); return 0; }\n',
};

const rooted = process.getuid?.() === 0;
const premise = rooted ? undefined : 'interception needs a mount namespace (root): CI runs as root';
/** A named skip without root, except under CI (which runs as root: there a missing premise fails). */
const needsRoot = { skip: premise !== undefined && process.env['CI'] !== 'true' ? premise : false };

/** The count in the last gg infer summary of a script's output. */
function wrappers(stderr: string): number {
  const m = [...stderr.matchAll(/(\d+) build-tool wrappers modelled/g)].pop();
  assert.ok(m, `no gg infer summary:\n${stderr.slice(-3000)}`);
  return Number(m[1]);
}

/** What the real symbol extractor writes for the library, in a scratch file. */
function realSymbols(build: string): string {
  const out = path.join(build, 'real.symbols');
  const r = spawnSync(
    '/usr/bin/meson',
    ['--internal', 'symbolextractor', build, 'libm.so.1.2.3', 'libm.so.1.2.3', out],
    { cwd: build, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(out, 'utf8');
  fs.rmSync(out);
  return text;
}

describe('gg infer: Meson wrappers run by absolute path', () => {
  it(
    'a rebuild answers --internal exe and symbolextractor by models, with the files a plain build writes',
    needsRoot,
    () => {
      assert.ok(rooted, premise);
      const plain = tempDir('gg-meson-plain-');
      writeFiles(plain, FILES);
      const p = sh(plain, 'meson setup build >/dev/null && ninja -C build', { GG_DIR: '' });
      assert.equal(p.status, 0, p.stderr + p.stdout);
      assert.doesNotMatch(p.stdout + p.stderr, /gen: counted/, 'Meson drops a captured program’s stderr');

      const dir = tempDir('gg-meson-');
      writeFiles(dir, FILES);
      const build = path.join(dir, 'build');
      const cold = sh(
        dir,
        'gg init >/dev/null && gg infer meson setup build >/dev/null && gg infer --force ninja -C build',
      );
      assert.equal(cold.status, 0, cold.stderr);
      assert.equal(wrappers(cold.stderr), 2, cold.stderr);
      assert.match(cold.stderr, /1 {2}a program run of a file that is not a placeholder/);
      assert.doesNotMatch(
        cold.stdout + cold.stderr,
        /gen: counted/,
        'as Meson: the stderr of a captured run is dropped',
      );

      const warm = sh(dir, 'ninja -C build clean >/dev/null && gg infer --force ninja -C build && build/main');
      assert.equal(warm.status, 0, warm.stderr);
      assert.equal(wrappers(warm.stderr), 2, warm.stderr);
      assert.match(warm.stderr, /1 program runs answered by thunks/);
      assert.match(warm.stderr, /gg infer: 1 command ran for real/, 'only the wrapper of cat');
      assert.equal(warm.stdout.trim().split('\n').pop(), '3');
      for (const f of ['count.h', 'copy.txt', 'libm.so.1.2.3.p/libm.so.1.2.3.symbols'])
        assert.equal(
          fs.readFileSync(path.join(build, f), 'utf8'),
          fs.readFileSync(path.join(plain, 'build', f), 'utf8'),
          `${f} as in the plain build`,
        );
      assert.equal(
        fs.readFileSync(path.join(build, 'libm.so.1.2.3.p/libm.so.1.2.3.symbols'), 'utf8'),
        realSymbols(build),
      );
      assert.match(
        fs.readFileSync(path.join(build, 'libm.so.1.2.3.p/libm.so.1.2.3.symbols'), 'utf8'),
        /^m_table D c$/m,
      );
      assert.deepEqual(
        fs.readdirSync(build).filter((f) => f.includes('.gg-')),
        [],
        'no temporary file is left',
      );

      // same content: the file is not touched, so ninja's restat skips what depends on it (the generator is
      // relinked so that it is a placeholder again: the end of gg infer put the memoized program in place)
      fs.rmSync(path.join(build, 'gen'));
      const before = fs.statSync(path.join(build, 'count.h')).mtimeMs;
      fs.utimesSync(path.join(dir, 'in.txt'), new Date(), new Date(Date.now() + 2000));
      const touched = sh(dir, 'gg infer --force ninja -C build');
      assert.equal(touched.status, 0, touched.stderr);
      assert.equal(wrappers(touched.stderr), 1, touched.stderr);
      assert.equal(fs.statSync(path.join(build, 'count.h')).mtimeMs, before, 'count.h left untouched');
      assert.doesNotMatch(touched.stdout, /Compiling C object libm/, 'nothing that includes count.h recompiles');

      // the output is a symbolic link (the wrapper writes through it): the real Meson runs
      const elsewhere = path.join(dir, 'elsewhere.h');
      fs.rmSync(path.join(build, 'gen'));
      fs.rmSync(path.join(build, 'count.h'));
      fs.symlinkSync(elsewhere, path.join(build, 'count.h'));
      fs.writeFileSync(path.join(dir, 'in.txt'), 'a\nb\n');
      const linked = sh(dir, 'gg infer --force ninja -C build && build/main');
      assert.equal(linked.status, 0, linked.stderr);
      assert.match(linked.stderr, /1 {2}a Meson wrapper output that is not a plain file/);
      assert.equal(fs.readFileSync(elsewhere, 'utf8'), '#define COUNT 2\n');
      assert.equal(linked.stdout.trim().split('\n').pop(), '2');
    },
  );

  it(
    'without interception (GG_INFER_INTERCEPT=0, or no right to make a mount namespace) the wrappers run for real',
    needsRoot,
    () => {
      assert.ok(rooted, premise);
      const dir = tempDir('gg-meson-off-');
      writeFiles(dir, FILES);
      const off = sh(
        dir,
        'gg init >/dev/null && gg infer meson setup build >/dev/null && gg infer ninja -C build && build/main',
        {
          GG_INFER_INTERCEPT: '0',
        },
      );
      assert.equal(off.status, 0, off.stderr);
      assert.equal(wrappers(off.stderr), 0);
      assert.equal(off.stdout.trim().split('\n').pop(), '3');
      // as a user without CAP_SYS_ADMIN: unshare fails and the build runs as without interception
      const unpriv = sh(
        dir,
        'ninja -C build clean >/dev/null && setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin gg infer ninja -C build && build/main',
      );
      assert.equal(unpriv.status, 0, unpriv.stderr);
      assert.equal(wrappers(unpriv.stderr), 0);
      assert.equal(unpriv.stdout.trim().split('\n').pop(), '3');
    },
  );

  it('the symbols file is what Meson’s symbolextractor writes; output it would read differently runs the real one', () => {
    const readelf =
      ' 0x000000000000000e (SONAME)             Library soname: [libm.so.1]\n 0x0000000000000001 (NEEDED) x\n';
    const nm = 'm_count T 1119 b\nm_table D 4010 c\n_end B 4020\nweak W\n';
    assert.equal(
      symbolsFile(readelf, nm),
      ' 0x000000000000000e (SONAME)             Library soname: [libm.so.1]\nm_count T\nm_table D c\n_end B\nweak W\n',
    );
    assert.equal(symbolsFile('no soname\n', 'f T 0 0\n'), 'f T\n');
    for (const [r, n] of <[string, string][]>[
      [readelf, 'bad\u00e9 T\n'], // not ASCII: Python decodes and splits differently
      [readelf, 'a\rb T\n'], // Python folds \r
      [readelf, 'x\x1cy T\n'], // \x1c is whitespace to Python's split
      [readelf, 'lonely\n'], // the script fails (IndexError)
      [`${readelf}${readelf}`, nm], // two SONAME lines: the script's assert fails
      [readelf, ''], // no symbols: the script writes an empty file
    ])
      assert.throws(() => symbolsFile(r, n), RunRealTool);
  });
});
