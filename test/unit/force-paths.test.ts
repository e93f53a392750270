/**
 * The memoized path builds its file names without path.join/path.resolve (force-command.ts `absolute`,
 * LocalStore's blob and memo paths): the strings must be exactly what those would give, whatever the input.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { absolute } from '../../src/force/force-command.js';
import { LocalStore } from '../../src/store/local-store.js';

const files = [
  't/T1',
  'x',
  '/abs/x',
  './x',
  '../x',
  'a/../b',
  'a/./b',
  'a/.hidden',
  'a/..b',
  '',
  '.',
  '..',
  'x//y',
  'x/',
  '/',
  '//x',
  'x/.',
  'x/..',
  '...',
  'a/...',
  '.a',
  '..a',
  'a/b/c.o',
  '/a/./b',
  '/a/../b',
  'a\\b',
  'ü/ß',
];

test('absolute(cwd, file) is path.resolve(cwd, file)', () => {
  for (const cwd of ['/a/b', '/', '/x', '/a b/c.d'])
    for (const f of files) assert.equal(absolute(cwd, f), path.resolve(cwd, f), `${cwd} + ${f}`);
});

test("LocalStore's blob and memo paths are path.join's, for names and anything else", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-paths-'));
  try {
    const store = new LocalStore(path.join(dir, '.gg'));
    const name = 'VWJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM00000006';
    for (const n of [name, `T${name.slice(1)}#out`, ...files]) {
      assert.equal(store.blobPath(n), path.join(store.blobsDir, n), n);
      // The memo path is private: a memo entry written under a ref lands at path.join's name.
      if (n === name) {
        store.putReductionSync(n, name);
        assert.equal(fs.readFileSync(path.join(store.reductionsDir, n), 'latin1'), name);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
