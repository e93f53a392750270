/**
 * Fidelity of gg infer + gg force to a plain build, compile by compile: exit status, every line the
 * compiler prints (text, file, line, column) and the object (after strip --strip-debug), on small sources
 * whose diagnostics a split preprocess would change (comments, macro locations, pragmas, builtin macros).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cProject, sh, shOk } from '../helpers/c-project.js';

/** name -> [source files, flags]; each compiles `NAME.c` (under `sub/` for __FILE__) to `NAME.o`. */
const CASES: Record<string, { files: Record<string, string>; flags: string; src?: string }> = {
  fallthrough: {
    // a plain -E drops the comment: -Werror=implicit-fallthrough then fails a build that passes
    files: {
      'fallthrough.c':
        'int f(int x) {\n  switch (x) {\n  case 1:\n    x++;\n    /* fall through */\n  case 2:\n    x++;\n    break;\n  }\n  return x;\n}\n',
    },
    flags: '-O2 -Wextra -Werror=implicit-fallthrough',
  },
  misleading: {
    // -Wmisleading-indentation inside a macro: lost after any preprocessing (line markers turn it off)
    files: {
      'misleading.c':
        '#include <stdio.h>\n#define CHECK(x) if (x) \\\n    puts("a"); \\\n    puts("b");\nvoid f(int x) {\n  CHECK(x)\n}\n',
    },
    flags: '-O2 -Wall',
  },
  pragma: {
    files: {
      'pragma.c':
        '#pragma GCC diagnostic push\n#pragma GCC diagnostic ignored "-Wunused-variable"\nvoid g(void) { int quiet; }\n#pragma GCC diagnostic pop\nvoid h(void) { int loud; }\n' +
        '#define HUSH(s) _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \\"-Wunused-variable\\"") s _Pragma("GCC diagnostic pop")\nvoid k(void) { HUSH(int hushed;) int heard; }\n',
    },
    flags: '-Wall',
  },
  fileline: {
    files: {
      'sub/fileline.c':
        'const char *file = __FILE__;\nconst char *base = __BASE_FILE__;\nint line = __LINE__;\n#line 100 "renamed.c"\nint later = __LINE__; const char *named = __FILE__;\nint *p = 0; int q(void) { return *p + "x"; }\n',
    },
    flags: '-O2 -Wall',
    src: 'sub/fileline.c',
  },
  datetime: {
    files: { 'datetime.c': 'const char *stamp = __DATE__ " " __TIME__;\n' },
    flags: '-O2 -Wdate-time',
  },
  includenext: {
    files: {
      'includenext.c': '#include <wrap.h>\nint v = FROM_OUTER + FROM_INNER;\nint w = "not an int";\n',
      'outer/wrap.h': '#include_next <wrap.h>\n#define FROM_OUTER 1\n',
      'inner/wrap.h': '#define FROM_INNER 2\n',
    },
    flags: '-Iouter -Iinner',
  },
  hasinclude: {
    files: {
      'hasinclude.c':
        '#if __has_include("present.h")\n#include "present.h"\n#endif\n#if __has_include("absent.h")\n#error absent.h is not there\n#endif\n#if __has_include(<stdio.h>)\nint std = 1;\n#endif\nint p = PRESENT;\nint f(void) { int z; return 0; }\n',
      'present.h': '#define PRESENT 3\n',
    },
    flags: '-Wall -Wextra',
  },
  unusedmacros: {
    // gcc refuses -fdirectives-only with -Wunused-macros: discovery falls back to -M, the compile is as ever
    files: { 'unusedmacros.c': '#define NEVER_USED 1\nint x;\n' },
    flags: '-Wunused-macros',
  },
  debuginfo: {
    // debug info names the compilation directory: a compile run at infer time must run where the thunk does
    files: { 'debuginfo.c': 'static int sq(int x) { return x * x; }\nint f(int y) { return sq(y) + 1; }\n' },
    flags: '-O1 -g',
  },
  werror: {
    // a failing compile fails the same way: status and message
    files: { 'werror.c': 'int f(int c) {\n  int x;\n  if (c) x = 1;\n  return x;\n}\nint g(void) { return 1 }\n' },
    flags: '-O2 -Wall -Werror',
  },
};

const ENV = { SOURCE_DATE_EPOCH: '1700000000', LANG: 'C.UTF-8', LC_ALL: '' };

function stripped(file: string): Buffer {
  const out = `${file}.stripped`;
  shOk(path.dirname(file), `strip --strip-debug -o '${out}' '${file}'`);
  return fs.readFileSync(out);
}

/** The compiler's lines in gg force's stderr: without gg's own lines and the `  | ` of a failure report. */
function compilerLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => !/^(gg|error\[GG_|\s+hint:)/.test(l))
    .map((l) => l.replace(/^ {2}\| /, ''))
    .filter((l) => l.trim() !== '');
}

describe('gg infer: a compile says and makes what the plain compile does', () => {
  const files = Object.assign({}, ...Object.values(CASES).map((c) => c.files)) as Record<string, string>;
  const dir = cProject(files);
  const plain = cProject(files);
  const cmd = (n: string): string => `cc ${CASES[n]!.flags} -c ${CASES[n]!.src ?? `${n}.c`} -o ${n}.o`;
  const r = sh(
    dir,
    `gg infer sh -c '${Object.keys(CASES)
      .map((n) => `${cmd(n)};`)
      .join(' ')} true'`,
    ENV,
  );

  it('infer models every compile (none fell back) without running a compiler but the discovery', () => {
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /0 commands ran for real/);
    assert.doesNotMatch(r.stderr, /warning|error/, 'nothing is compiled at infer time');
  });

  for (const name of Object.keys(CASES)) {
    it(`${name}: same status, same diagnostics, same object`, () => {
      const p = sh(plain, cmd(name), ENV);
      const g = sh(dir, `gg force --sandbox=$GG_SANDBOX ${name}.o`, ENV);
      assert.equal(g.status === 0, p.status === 0, `plain exit ${p.status}, gg exit ${g.status}:\n${g.stderr}`);
      assert.deepEqual(compilerLines(g.stderr), compilerLines(p.stderr));
      if (p.status === 0)
        assert.ok(
          stripped(path.join(dir, `${name}.o`)).equals(stripped(path.join(plain, `${name}.o`))),
          `${name}.o differs from the plain build`,
        );
    });
  }

  it('the warnings were real ones (the cases are not vacuous)', () => {
    const all = Object.keys(CASES)
      .map((n) => sh(plain, cmd(n), ENV).stderr)
      .join('');
    for (const w of [
      '-Wmisleading-indentation',
      'unused variable ‘loud’',
      'unused variable ‘heard’',
      '-Wdate-time',
      'renamed.c:101',
      '-Wint-conversion',
      'macro "NEVER_USED" is not used',
      'includenext.c:3:9',
      'unused variable ‘z’',
      'expected ‘;’',
    ])
      assert.ok(all.includes(w), `plain build prints ${w}`);
    assert.ok(!all.includes('‘quiet’'), '#pragma GCC diagnostic silenced that one');
  });

  it('a memoized compile is silent: warnings show once, when the compile runs', () => {
    fs.rmSync(path.join(dir, 'misleading.o'));
    shOk(dir, `gg infer ${cmd('misleading')}`, ENV);
    const again = sh(dir, `gg force --sandbox=$GG_SANDBOX misleading.o`, ENV);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /misleading/);
  });
});

/**
 * Sources whose compile may read what `-MD` does not list, or through a path the declared jail resolves
 * differently: run at infer time they build, but their result is not recorded (gcc-depend.ts).
 */
const UNSOUND: Record<string, string> = {
  'incbin.c': '__asm__(".section .rodata\\n.incbin \\"blob.bin\\"\\n.text");\nint incbin;\n',
  'blob.bin': 'data',
  'dotdot.c': '#include "hdr/../present.h"\nint dotdot = PRESENT;\n',
  'hdr/other.h': '\n',
};

describe('gg infer --force: compiles run at infer time (depend mode) say and make what the plain compile does', () => {
  const files = Object.assign({}, UNSOUND, ...Object.values(CASES).map((c) => c.files)) as Record<string, string>;
  const dir = cProject(files);
  const plain = cProject(files);
  fs.chmodSync(dir, 0o755); // the jail's user reads the tree as others do (a temporary directory is 0700)
  const cmd = (n: string): string => `cc ${CASES[n]!.flags} -c ${CASES[n]!.src ?? `${n}.c`} -o ${n}.o`;
  // and one whose output is in a subdirectory (the thunk writes `twice.o` in the start directory)
  const all = [
    ...Object.keys(CASES).map(cmd),
    'cc -c incbin.c -o incbin.o',
    'cc -c dotdot.c -o dotdot.o',
    'mkdir -p out && cc -c datetime.c -o out/twice.o',
  ];
  const r = sh(dir, `gg infer --force sh -c '${all.map((c) => `${c};`).join(' ')} true'`, ENV);
  // the plain build's output of each compile; those that fail there (werror, includenext) fail here too, and
  // their thunks run as declared later
  const plainRuns = new Map(Object.keys(CASES).map((n) => [n, sh(plain, cmd(n), ENV)]));
  const ok = Object.keys(CASES).filter((n) => plainRuns.get(n)!.status === 0);

  it('every compile that succeeds runs at infer time; its warnings are shown there, as the plain build shows them', () => {
    assert.equal(r.status, 0, r.stderr);
    assert.equal(ok.length, Object.keys(CASES).length - 2);
    // incbin and dotdot run too, but their results are not recorded
    assert.match(r.stderr, new RegExp(`\\(${ok.length + 1} by the compile itself\\)`), r.stderr);
    assert.ok(!fs.existsSync(path.join(dir, 'twice.o')), 'the output path made for the run is gone');
    assert.ok(fs.readdirSync(dir).every((f) => !f.includes('gg-depend')));
    const shown = new Set(compilerLines(r.stderr));
    for (const n of ok)
      for (const line of compilerLines(plainRuns.get(n)!.stderr)) assert.ok(shown.has(line), `${n}: ${line}`);
  });

  it('each recorded object is the plain one, and is what the declared thunk gives when run again (gg force --check)', () => {
    for (const n of ok) {
      const c = sh(dir, `gg force --check --sandbox=$GG_SANDBOX ${n}.o`, ENV);
      assert.equal(c.status, 0, `${n}: ${c.stderr}`);
      assert.ok(stripped(path.join(dir, `${n}.o`)).equals(stripped(path.join(plain, `${n}.o`))), `${n}.o differs`);
    }
  });
});
