/** The model client's own replay of memoized compile answers (fast-answer.ts, client.c's fast_replay). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cProject, isPlaceholder, sh, shOk } from '../helpers/c-project.js';

const PROJECT: Record<string, string> = {
  Makefile: [
    'prog: a.o libb.a',
    '\tcc -o $@ a.o -L. -lb',
    'libb.a: b.o',
    '\tar rcs $@ b.o',
    '%.o: %.c msg.h',
    '\tcc -O2 -MMD -c -o $@ $<',
    '',
  ].join('\n'),
  'msg.h': '#define MSG "one"\n',
  'a.c': '#include <stdio.h>\n#include "msg.h"\nvoid b(void);\nint main(void) { puts(MSG); b(); return 0; }\n',
  'b.c': '#include <stdio.h>\nvoid b(void) { puts("b"); }\n',
};

const CLEAN = 'rm -f a.o b.o a.d b.d libb.a prog';

/** A rebuild after make clean, verbose: what it printed. */
function rebuild(dir: string, env: NodeJS.ProcessEnv = {}): string {
  const r = sh(dir, `${CLEAN} && gg infer --force make`, { GG_INFER_VERBOSE: '1', ...env });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

/** The project's files, aged past the second in which a stat state is not trusted (hash cache, fast answers). */
function agedProject(): string {
  const dir = cProject(PROJECT);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
  return dir;
}

/** Built once, then rebuilt once: the server replayed each compile and left its fast answer. */
function warmProject(): string {
  const dir = agedProject();
  shOk(dir, 'gg infer --force make');
  rebuild(dir);
  return dir;
}

function fastFiles(dir: string): string[] {
  const root = path.join(dir, '.gg/cache/infer');
  const fast = fs.readdirSync(root).find((d) => d.startsWith('fast-'));
  if (fast === undefined) return [];
  return fs
    .readdirSync(path.join(root, fast), { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(root, fast, f))
    .filter((f) => fs.lstatSync(f).isFile());
}

describe('gg infer: compiles the client replays by itself', () => {
  it('a memoized compile is replayed by the client; an edited header (same size, mtime put back) is not', () => {
    const dir = warmProject();
    assert.equal(fastFiles(dir).length, 2, 'one fast answer per compile');
    const warm = rebuild(dir);
    assert.match(warm, /client: replayed a\.o/);
    assert.match(warm, /client: replayed b\.o/);
    assert.match(warm, /headers: 2 cached, 0 discovered/);
    // the archive and the link are the memoized ones (an archive of GCC's objects declares GCC's plugin
    // alone only when that compiler's toolchain is loaded, and no compile request loaded it here)
    assert.match(warm, /2 memoized links placed/);
    assert.ok(isPlaceholder(path.join(dir, 'a.o')));
    assert.match(fs.readFileSync(path.join(dir, 'a.d'), 'utf8'), /^a\.o: a\.c \\\n msg\.h\n/);
    assert.equal(shOk(dir, './prog'), 'one\nb\n');

    // same size, same mtime: only the ctime tells the edit
    shOk(dir, 'touch -r msg.h ref && printf \'#define MSG "two"\\n\' > msg.h && touch -r ref msg.h');
    const edited = rebuild(dir);
    assert.doesNotMatch(edited, /client: replayed a\.o/);
    assert.match(edited, /client: replayed b\.o/, 'b.c does not include msg.h');
    assert.equal(shOk(dir, './prog'), 'two\nb\n');
  });

  it("a fast answer never serves another command: one copied or linked over another's is ignored", () => {
    const dir = warmProject();
    const files = fastFiles(dir);
    assert.equal(files.length, 2);
    const ofA = files.find((f) => fs.readFileSync(f, 'utf8').includes('/a.o\n'));
    const ofB = files.find((f) => f !== ofA);
    assert.ok(ofA !== undefined && ofB !== undefined, 'the fast answers of a.o and b.o');
    const plant = {
      copied: () => fs.copyFileSync(ofA, ofB),
      linked: () => {
        fs.rmSync(ofB);
        fs.symlinkSync(ofA, ofB);
      },
    };
    for (const [how, put] of Object.entries(plant)) {
      put();
      assert.doesNotMatch(rebuild(dir), /client: replayed b\.o/, `a.o's answer ${how} over b.o's`);
      assert.equal(shOk(dir, './prog'), 'one\nb\n');
    }
  });

  it('GG_INFER_CLIENT_REPLAY=0: every compile goes to the server', () => {
    const dir = warmProject();
    const out = rebuild(dir, { GG_INFER_CLIENT_REPLAY: '0' });
    assert.doesNotMatch(out, /client: replayed/);
    assert.match(out, /cc: replayed a\.o/);
    assert.equal(shOk(dir, './prog'), 'one\nb\n');
  });
});
