/** The gcc command-line reader: stages, inputs, dependency flags, queries, response files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandResponseFiles, flagsOf, parseGcc, splitResponseFile } from '../../src/frontend/infer/gcc-args.js';
import { depFileText, isProbe } from '../../src/frontend/infer/gcc-model.js';
import { parseDepFile, withoutMacros } from '../../src/frontend/infer/header-deps.js';
import { RunRealTool } from '../../src/frontend/infer/model.js';
import { linkerScriptRefs } from '../../src/frontend/infer/toolchain.js';

function realReason(args: string[]): string {
  try {
    parseGcc(args);
  } catch (e) {
    if (e instanceof RunRealTool) return e.message; // reason: detail
    throw e;
  }
  return 'modelled';
}

describe('gcc command lines', () => {
  it('sorts flags into stages', () => {
    const c = parseGcc([
      '-O2',
      '-g',
      '-Iinc',
      '-D',
      'X=1',
      '-include',
      'cfg.h',
      '-Wall',
      '-Wa,--noexecstack',
      '-Wl,-z,now',
      '-lm',
      '-L',
      'lib',
      '-march=native',
      '-std=c11',
      '-fPIC',
      '-pthread',
      '-c',
      'a.c',
      '-o',
      'a.o',
    ]);
    assert.equal(c.mode, 'c');
    assert.equal(c.output, 'a.o');
    assert.deepEqual(c.inputs, [{ path: 'a.c', lang: 'c', explicit: false }]);
    assert.deepEqual(flagsOf(c, ['P']), ['-Iinc', '-D', 'X=1', '-include', 'cfg.h']);
    assert.deepEqual(flagsOf(c, ['C']), ['-O2', '-Wall', '-std=c11', '-fPIC', '-pthread']);
    assert.deepEqual(flagsOf(c, ['A']), ['-Wa,--noexecstack']);
    assert.deepEqual(flagsOf(c, ['L']), ['-Wl,-z,now', '-lm', '-L', 'lib']);
    assert.deepEqual(flagsOf(c, ['G', 'M']), ['-g', '-march=native']);
  });

  it('reads languages from extensions and -x', () => {
    const c = parseGcc(['x.cpp', 'y.S', 'z.s', 'w.i', '-x', 'c', 'data.txt', '-x', 'none', 'lib.a', 'o.o']);
    assert.deepEqual(
      c.inputs.map((i) => [i.path, i.lang ?? 'link', i.explicit]),
      [
        ['x.cpp', 'c++', false],
        ['y.S', 'assembler-with-cpp', false],
        ['z.s', 'assembler', false],
        ['w.i', 'cpp-output', false],
        ['data.txt', 'c', true],
        ['lib.a', 'link', false],
        ['o.o', 'link', false],
      ],
    );
  });

  it('reads dependency flags', () => {
    const c = parseGcc(['-MMD', '-MP', '-MF', 'x.d', '-MT', 'x.o', '-MQ', '$y', '-c', 'x.c']);
    assert.deepEqual(c.dep, {
      md: false,
      mmd: true,
      mp: true,
      mf: 'x.d',
      targets: [
        { text: 'x.o', quote: false },
        { text: '$y', quote: true },
      ],
      only: false,
    });
    assert.equal(parseGcc(['-M', 'x.c']).dep.only, true);
  });

  it('sends queries and what it does not understand to the real tool', () => {
    for (const q of [
      ['--version'],
      ['-dumpmachine'],
      ['-print-file-name=libc.so'],
      ['-v'],
      ['-dM', '-E', 'x.c'],
      ['-###', 'x.c'],
    ])
      assert.match(realReason(q), /query/);
    assert.match(realReason(['--frobnicate', '-c', 'x.c']), /unknown flag: --frobnicate/);
    assert.match(realReason(['-c', '-aux-info', 'f', 'x.c']), /unknown flag: -aux-info/);
    assert.match(realReason(['-c', '/dev/null']), /stdin|dev\/null/);
    assert.match(realReason(['-fplugin=x.so', '-c', 'x.c']), /not modelled/);
    assert.match(realReason(['--sysroot=/x', '-c', 'x.c']), /toolchain/);
    assert.match(realReason(['-c', 'x.m']), /language/);
    assert.match(realReason(['-Wl,-Map,out.map', 'x.o']), /linker/);
    assert.match(realReason(['-Xlinker', '-Map', '-Xlinker', 'out.map', 'x.o']), /linker writes/);
    assert.match(realReason(['-gsplit-dwarf', '-c', 'x.c']), /dwo/);
  });

  it("reads the linker's script and symbol files however -Wl, and -Xlinker split them", () => {
    const files = (args: string[]): string[] => parseGcc(['-shared', 'x.o', '-o', 'libx.so', ...args]).linkFiles;
    assert.deepEqual(files(['-Wl,--version-script,a.map']), ['a.map']);
    assert.deepEqual(files(['-Wl,--version-script=a.map']), ['a.map']);
    // libtool's form: the option and its file in two -Wl, flags
    assert.deepEqual(files(['-Wl,--version-script', '-Wl,a.map', '-Wl,-soname', '-Wl,libx.so.1']), ['a.map']);
    assert.deepEqual(
      files(['-Xlinker', '--dynamic-list', '-Xlinker', 'd.list', '-Xlinker', '-T', '-Xlinker', 's.ld']),
      ['d.list', 's.ld'],
    );
    assert.deepEqual(files(['-T', 'gcc.ld', '-Wl,-z,now']), ['gcc.ld']);
  });

  it('recognises configure and CMake probes', () => {
    assert.ok(isProbe('/p', parseGcc(['-o', 'conftest', 'conftest.c'])));
    assert.ok(isProbe('/p/build/CMakeFiles/CMakeScratch/TryCompile-x', parseGcc(['-c', 'src.c'])));
    assert.ok(!isProbe('/p/build', parseGcc(['-c', 'CMakeFiles/z.dir/a.c'])));
  });

  it('expands response files with gcc quoting', () => {
    assert.deepEqual(splitResponseFile(`-DA="x y" 'q r' a\\ b\n-c`), ['-DA=x y', 'q r', 'a b', '-c']);
    assert.deepEqual(expandResponseFiles(['@/nonexistent/rsp', '-c'], '/'), ['@/nonexistent/rsp', '-c']);
  });

  it('writes and reads make dependency files', () => {
    const c = parseGcc(['-MMD', '-MP', '-c', 'a b.c']);
    const text = depFileText(c, 'a b.c', 'a b.o', ['inc/x.h', '/usr/include/stdio.h'], []);
    assert.equal(text, 'a\\ b.o: a\\ b.c \\\n inc/x.h\n\ninc/x.h:\n');
    assert.deepEqual(parseDepFile('gg: a\\ b.c \\\n inc/x.h /usr/include/stdio.h\n'), [
      'a b.c',
      'inc/x.h',
      '/usr/include/stdio.h',
    ]);
  });

  it('asks for search directories without the macros, which never move them', () => {
    assert.deepEqual(withoutMacros(['-DA=1', '-D', 'B', '-I', 'inc', '-UC', '-U', 'D', '-isystem', '/x', '-Dx=-I/y']), [
      '-I',
      'inc',
      '-isystem',
      '/x',
    ]);
  });

  it('reads GNU ld scripts', () => {
    const r = linkerScriptRefs(
      '/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/libc.so.6 /usr/lib/libc_nonshared.a AS_NEEDED ( /lib64/ld.so.2 ) )\nGROUP ( libgcc_s.so.1 -lgcc )\n',
    );
    assert.deepEqual(r, {
      paths: ['/lib/libc.so.6', '/usr/lib/libc_nonshared.a', '/lib64/ld.so.2'],
      libs: ['gcc'],
      names: ['libgcc_s.so.1'],
    });
  });
});
