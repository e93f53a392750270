/**
 * Known link results copied while the build runs (known-outputs.ts): a program that stays a placeholder until
 * the build ends is renamed into place from its copy, the same bytes `gg force` would place; a copy of another
 * value, or of a blob the store does not hold, is never used, and no copy is left behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { OutputStager } from '../../src/frontend/infer/known-outputs.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cProject, isPlaceholder, sh, shOk } from '../helpers/c-project.js';

function tempStore(): { dir: string; store: LocalStore } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-known-outputs-'));
  return { dir, store: new LocalStore(path.join(dir, '.gg')) };
}

/** Copies left in the store's temp directory. */
function copiesLeft(ggDir: string): string[] {
  return fs.readdirSync(path.join(ggDir, 'tmp')).filter((f) => f.startsWith('place-'));
}

const THUNK = `T${'a'.repeat(43)}00000010`;

describe('gg infer: known results copied while the build runs', () => {
  it('a staged copy of the value the end finds is renamed over the placeholder with its mode', async () => {
    const { dir, store } = tempStore();
    const value = store.putSync(Buffer.from('#!/bin/sh\necho the program\n')).name;
    const file = path.join(dir, 'prog');
    writePlaceholder(file, THUNK);
    const stager = new OutputStager(store);
    stager.stage(file, value);
    assert.equal(await stager.place(file, value, 0o755), true);
    assert.equal(fs.readFileSync(file, 'utf8'), '#!/bin/sh\necho the program\n');
    assert.equal(fs.statSync(file).mode & 0o7777, 0o755);
    assert.notEqual(fs.statSync(file).ino, fs.statSync(store.blobPath(value)).ino, 'a copy, never the blob');
    await stager.discard();
    assert.deepEqual(copiesLeft(store.ggDir), []);
  });

  it('a copy of another value, a second stage of the file or a blob the store lacks is not used, and is removed', async () => {
    const { dir, store } = tempStore();
    const one = store.putSync(Buffer.from('one\n')).name;
    const two = store.putSync(Buffer.from('two\n')).name;
    const file = path.join(dir, 'prog');
    writePlaceholder(file, THUNK);
    const stager = new OutputStager(store);
    stager.stage(file, one);
    assert.equal(await stager.place(file, two, 0o755), false, 'staged for another value');
    assert.ok(isPlaceholder(file), 'nothing changed');

    stager.stage(file, one);
    stager.stage(file, two); // the build linked it again: the first copy is dropped
    assert.equal(await stager.place(file, one, 0o755), false);
    stager.stage(file, two);
    assert.equal(await stager.place(file, two, 0o644), true);
    assert.equal(fs.readFileSync(file, 'utf8'), 'two\n');

    const other = path.join(dir, 'other');
    writePlaceholder(other, THUNK);
    stager.stage(other, `V${'b'.repeat(43)}00000004`); // not in the store
    assert.equal(await stager.place(other, `V${'b'.repeat(43)}00000004`, 0o755), false);
    stager.stage(other, one);
    await stager.discard();
    assert.deepEqual(copiesLeft(store.ggDir), [], 'unused copies removed');
    assert.ok(isPlaceholder(other));
  });

  it('a rebuild places the program it linked from a copy made during the build: the same bytes as the first build', () => {
    const dir = cProject({
      Makefile: ['prog: a.o', '\tcc -o $@ a.o', '%.o: %.c', '\tcc -O2 -c -o $@ $<', ''].join('\n'),
      'a.c': '#include <stdio.h>\nint main(void) { puts("built"); return 0; }\n',
    });
    shOk(dir, 'gg infer --force make');
    const first = fs.readFileSync(path.join(dir, 'prog'));
    const warm = sh(dir, 'rm -f a.o prog && gg infer --force make', { GG_INFER_VERBOSE: '1' });
    assert.equal(warm.status, 0, warm.stderr);
    assert.match(warm.stderr, /placed prog \(copied while the build ran\)/);
    assert.match(warm.stderr, /1 memoized links placed/);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'prog')), first);
    assert.equal(fs.statSync(path.join(dir, 'prog')).mode & 0o777, 0o755);
    assert.equal(shOk(dir, './prog'), 'built\n');
    assert.deepEqual(copiesLeft(path.join(dir, '.gg')), []);
  });
});
