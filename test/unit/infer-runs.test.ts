/**
 * Programs a build links and then runs (generators) become thunks under gg infer when the jail can check
 * them: their output comes from the memo on a rebuild; programs that write files, may read their standard
 * input or read undeclared files run for real, with the same result as a plain build.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cProject, sh } from '../helpers/c-project.js';

const GEN = [
  '#include <stdio.h>',
  '#include <string.h>',
  'int main(int argc, char **argv) {',
  '  int in = argc > 3 && strcmp(argv[3], "stdin") == 0;',
  '  FILE *f = in ? stdin : fopen(argv[1], "r"); int c, n = 0;',
  '  if (!f) { perror(argv[1]); return 1; }',
  '  while ((c = getc(f)) != EOF) n += c == 10;',
  '  if (argc > 3 && strcmp(argv[3], "side") == 0) { FILE *o = fopen("side.txt", "w"); fputs("x", o); fclose(o); }',
  '  if (argc > 3 && strcmp(argv[3], "extra") == 0) { FILE *e = fopen("extra.txt", "r"); if (!e) return 3; fclose(e); }',
  '  printf("#define %s %d\\n", argv[2], n);',
  '  fprintf(stderr, "gen: %s counted %d\\n", argv[2], n);',
  '  return 0;',
  '}',
  '',
].join('\n');

const FILES: Record<string, string> = {
  'gen/gen.c': GEN,
  'gen/in.txt': 'a\nb\nc\n',
  'gen/extra.txt': 'read by the generator without being named\n',
  'gen/main.c':
    '#include <stdio.h>\n#include "a.h"\n#include "b.h"\n#include "c.h"\n#include "d.h"\n#include "e.h"\nint main(void) { printf("%d %d %d %d %d\\n", A, B, C, D, E); return 0; }\n',
  'gen/Makefile': [
    'main: main.c a.h b.h c.h d.h e.h',
    '\tcc -O1 -o main main.c',
    // one program per case: a run that falls back forces its program into place for the rest of the build
    'gen-%: gen.c',
    '\tcc -O1 -o $@ gen.c',
    'a.h: gen-a in.txt',
    '\t./gen-a in.txt A < /dev/null > a.h',
    'b.h: gen-b in.txt',
    '\t./gen-b in.txt B side < /dev/null > b.h',
    'c.h: gen-c in.txt',
    '\tcat in.txt | ./gen-c in.txt C > c.h',
    'd.h: gen-d in.txt',
    '\t./gen-d in.txt D extra < /dev/null > d.h',
    'e.h: gen-e in.txt',
    '\t./gen-e - E stdin < in.txt > e.h',
    'clean:',
    '\trm -f gen-? main side.txt [a-e].h',
    '',
  ].join('\n'),
};

describe('gg infer: runs of programs the build linked', () => {
  it('a generator run is a thunk answered from the memo on a rebuild (one reading a file as stdin too); writers, pipe readers and undeclared reads run for real', () => {
    const dir = cProject(FILES);
    const env = { GG_SANDBOX: 'bwrap' }; // the jail is what makes a run's inputs and outputs known
    const gen = path.join(dir, 'gen');
    const cold = sh(gen, 'gg infer make && gg force --sandbox=bwrap main && ./main', env);
    assert.equal(cold.status, 0, cold.stderr);
    assert.equal(cold.stdout.trim().split('\n').pop(), '3 3 3 3 3');
    assert.match(cold.stderr, /2 program runs answered by thunks/);
    assert.match(cold.stderr, /gen: A counted 3/, 'an executed run shows what the program printed');
    assert.equal(cold.stderr.match(/gen: B counted/g)?.length, 1, 'a rejected run prints once (the real one)');
    assert.match(cold.stderr, /1 {2}a program run that writes files/);
    assert.match(cold.stderr, /1 {2}a program run that may read its standard input/);
    assert.match(cold.stderr, /1 {2}a program run that failed in the jail \(or reads undeclared files\)/);
    assert.equal(fs.readFileSync(path.join(gen, 'side.txt'), 'utf8'), 'x', 'the writer ran for real');
    assert.equal(fs.readFileSync(path.join(gen, 'a.h'), 'utf8'), '#define A 3\n');

    // a rebuild: the memoized run answers, the generator does not run (nothing printed for A)
    const warm = sh(gen, 'make clean >/dev/null && gg infer make && gg force --sandbox=bwrap main && ./main', env);
    assert.equal(warm.status, 0, warm.stderr);
    assert.match(warm.stderr, /2 program runs answered by thunks/);
    assert.doesNotMatch(warm.stderr, /gen: [AE] counted/);
    assert.equal(fs.readFileSync(path.join(gen, 'a.h'), 'utf8'), '#define A 3\n');

    // an input named on the command line, or read as standard input, is part of the run's key
    fs.writeFileSync(path.join(gen, 'in.txt'), 'a\nb\n');
    const edited = sh(gen, 'gg infer make && gg force --sandbox=bwrap main && ./main', env);
    assert.equal(edited.status, 0, edited.stderr);
    assert.match(edited.stderr, /gen: A counted 2/);
    assert.match(edited.stderr, /gen: E counted 2/);
    assert.equal(edited.stdout.trim().split('\n').pop(), '2 2 2 2 2');
  });

  it('outside the jail (--sandbox=none) a run is not memoized: the program runs for real', () => {
    const dir = cProject(FILES);
    const gen = path.join(dir, 'gen');
    const r = sh(gen, 'gg infer --sandbox=none make a.h', { GG_SANDBOX: 'none' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /0 program runs answered by thunks/);
    assert.match(r.stderr, /a program run \(memoized only in the bubblewrap jail\)/);
    assert.equal(fs.readFileSync(path.join(gen, 'a.h'), 'utf8'), '#define A 3\n');
  });
});
