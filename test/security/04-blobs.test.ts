/** Finding 4: store objects could be changed in place (world-writable or setuid outputs; an edit with mtime put back). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import { force, jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

describe('security 4: blobs are immutable', () => {
  const jail = jailSuite();

  it("an output left 0666, 4777 or 2755 enters the store read-only, root's, without setuid/setgid", async () => {
    const t = rawThunk(
      jail.p,
      'echo a > out; echo b > suid; echo c > sgid; chmod 666 out; chmod 4777 suid; chmod 2755 sgid',
      {
        tools: ['chmod'],
        outputs: ['out', 'suid', 'sgid'],
      },
    );
    const r = await force(jail.rt, t);
    assert.equal(r.error, undefined, r.error?.message);
    for (const tag of ['out', 'suid', 'sgid']) {
      const value = (await jail.rt.store.getReduction(`${t}#${tag}`))!;
      const st = fs.statSync(jail.p.store.blobPath(value));
      assert.equal(st.mode & 0o7222, 0, `${tag}: mode ${(st.mode & 0o7777).toString(8)}`);
      assert.equal(st.uid, process.getuid!());
    }
  });

  it('a collected world-writable setuid file is stored read-only without setuid', () => {
    const f = path.join(jail.p.dir, 'suid-file');
    fs.writeFileSync(f, 'setuid content\n');
    fs.chmodSync(f, 0o4777);
    const { name } = jail.p.store.putFileSync(f);
    const st = fs.statSync(jail.p.store.blobPath(name));
    assert.equal(st.mode & 0o7222, 0, `mode ${(st.mode & 0o7777).toString(8)}`);
  });

  it('a blob rewritten in place with its mtime put back is caught, not handed out', async () => {
    const f = path.join(jail.p.dir, 'honest');
    fs.writeFileSync(f, 'honest content\n');
    const { name } = jail.p.store.putFileSync(f);
    const blob = jail.p.store.blobPath(name);
    // Old enough for the hash cache to remember it (it never caches what changed within the last second).
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(jail.p.store.verifiedBlobPath(name), blob);
    const before = fs.statSync(blob, { bigint: true });
    const ref = path.join(jail.p.dir, 'times');
    fs.writeFileSync(ref, '');
    execFileSync('touch', ['-r', blob, ref]);
    execFileSync('dd', ['of=' + blob, 'conv=notrunc', 'status=none'], { input: 'forged ' });
    execFileSync('touch', ['-r', ref, blob]);
    const after = fs.statSync(blob, { bigint: true });
    assert.deepEqual(
      [after.mtimeNs, after.size, after.ino],
      [before.mtimeNs, before.size, before.ino],
      'only ctime tells',
    );
    assert.throws(
      () => jail.p.store.verifiedBlobPath(name),
      (e: unknown) => isGgError(e, 'GG_E_OBJECT_CORRUPT'),
    );
  });
});
