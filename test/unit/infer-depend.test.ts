/** gcc-depend.ts: which names a compile run at infer time may be recorded with (the declared jail resolves them alike). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { namesResolveAlike } from '../../src/frontend/infer/gcc-depend.js';
import { tempDir } from '../helpers/cli.js';

describe('namesResolveAlike', () => {
  const root = tempDir('gg-depend-');
  for (const f of ['tests/a.c', 'x.h', 'hdr/other.h', 'real/y.h']) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), '');
  }
  fs.symlinkSync('real', path.join(root, 'link'));

  it('plain names, and leading ../ from the start directory', () => {
    assert.ok(namesResolveAlike(['a.c', '../x.h'], path.join(root, 'tests'), root));
  });
  it("an absolute dir/.. whose dir holds a file named absolutely (CMake's tests/../cJSON.h)", () => {
    assert.ok(namesResolveAlike([`${root}/tests/a.c`, `${root}/tests/../x.h`], root, root));
  });
  it('dir/.. where the declared jail has no dir, or dir holds only relatively named files', () => {
    assert.ok(!namesResolveAlike(['x.c', 'hdr/../x.h'], root, root));
    assert.ok(!namesResolveAlike(['tests/a.c', `${root}/tests/../x.h`], root, root));
  });
  it('a symbolic link before the ..', () => {
    assert.ok(!namesResolveAlike(['link/y.h', 'link/../x.h'], root, root));
  });
});
