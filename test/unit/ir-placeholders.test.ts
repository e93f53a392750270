/** Placeholders: written atomically in the right form, read back, and hostile ones refused clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import { computeName } from '../../src/ir/name.js';
import {
  LINKER_HEADER,
  SHEBANG_HEADER,
  parsePlaceholder,
  placeholderContent,
  placeholderKindFor,
  readPlaceholder,
  writePlaceholder,
} from '../../src/ir/placeholder.js';
import { cleanupTemps, tempDir } from '../helpers/store-fixtures.js';

after(cleanupTemps);

const T = computeName(Buffer.from('##GGTHUNK##placeholder test'));

describe('placeholders', () => {
  it("take gg's form by file name: linker-script for objects and libraries, shell otherwise", () => {
    for (const f of ['a.o', 'lib/libz.a', 'libz.so', 'libz.so.1', 'libz.so.1.2.13', 'x.s', 'x.S', 'x.lo', 'x.sho'])
      assert.equal(placeholderKindFor(f), 'linker-script', f);
    for (const f of ['hello', 'out.txt', 'so', 'a.out', 'x.so.1a', 'dir.o/prog', 'x.c'])
      assert.equal(placeholderKindFor(f), 'shell', f);
  });

  it('round-trip: written atomically over an existing file, mode by kind, read back as the reference', () => {
    const dir = tempDir();
    for (const [file, ref, mode] of [
      ['prog', T, 0o755],
      ['lib.a', `${T}#lib.a`, 0o644],
    ] as const) {
      const p = path.join(dir, file);
      fs.writeFileSync(p, 'the old file, replaced whole\n');
      writePlaceholder(p, ref);
      assert.equal(fs.statSync(p).mode & 0o777, mode, file);
      assert.equal(readPlaceholder(p), ref);
      const text = fs.readFileSync(p, 'utf8');
      assert.ok(text.startsWith(mode === 0o755 ? SHEBANG_HEADER : LINKER_HEADER), text);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ['lib.a', 'prog'], 'no temp file left');
  });

  it('a shell placeholder is a program: run with gg-force-and-run absent from PATH it fails, it does not run as a script', () => {
    const dir = tempDir();
    const p = path.join(dir, 'prog');
    writePlaceholder(p, T);
    const r = spawnSync(p, [], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
  });

  it('ordinary files are not placeholders: other headers, a header without its newline, files over 512 bytes', () => {
    const shell = placeholderContent(T, 'shell');
    for (const data of [
      '',
      'hello\n',
      `#!/bin/sh\n${T}\n`,
      SHEBANG_HEADER, // no newline, no reference
      ` ${shell}`,
      shell + ' '.repeat(600), // a placeholder is small: a big file that starts like one is data
    ])
      assert.equal(parsePlaceholder(Buffer.from(data)), undefined, JSON.stringify(data.slice(0, 60)));
    assert.equal(parsePlaceholder(Buffer.from(`${SHEBANG_HEADER}\n  ${T}  \nextra lines\n`)), T, 'spaces trimmed');
  });

  it('hostile placeholders (bad names, injected text, huge or binary refs) are GG_E_PLACEHOLDER_INVALID', () => {
    for (const ref of [
      '',
      'T',
      T.slice(0, 51),
      `${T}x`,
      `../../${T}`,
      `${T.slice(0, 20)}\0${T.slice(21)}`,
      '$(rm -rf ~)',
      'V'.repeat(400),
    ]) {
      for (const kind of ['shell', 'linker-script'] as const) {
        assert.throws(
          () => parsePlaceholder(Buffer.from(placeholderContent(ref, kind))),
          (e) => isGgError(e, 'GG_E_PLACEHOLDER_INVALID') && !e.message.includes('\n') && e.message.length < 200,
          JSON.stringify(ref),
        );
      }
    }
  });

  it('reading one that is missing, a directory, a FIFO or a device is a clear error, never a hang', () => {
    const dir = tempDir();
    const fifo = path.join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const expect: [string, string][] = [
      [path.join(dir, 'missing'), 'GG_E_FILE_NOT_FOUND'],
      [dir, 'GG_E_FILE_TYPE'],
      [fifo, 'GG_E_FILE_TYPE'],
      ['/dev/zero', 'GG_E_FILE_TYPE'],
    ];
    for (const [file, code] of expect)
      assert.throws(
        () => readPlaceholder(file),
        (e) => isGgError(e, code as 'GG_E_FILE_TYPE'),
        file,
      );
  });
});
