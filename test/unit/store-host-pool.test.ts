/**
 * The per-user pool of host files (host-pool.ts): a fresh store links the pool's blob instead of copying,
 * the linked blob is read-only, a pool that others may write or that is reached through a link is refused,
 * a tampered pool blob is detected and replaced, and a store on another file system gets a copy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { computeName } from '../../src/ir/name.js';
import { HostFilePool } from '../../src/store/host-pool.js';
import { LocalStore } from '../../src/store/local-store.js';
import { tempDir } from '../helpers/cli.js';

/** A "host file" (a stand-in for a compiler) and a pool in a fresh user cache directory. */
function setup(): { host: string; bytes: Buffer; cache: string; pool: HostFilePool } {
  const dir = tempDir('gg-pool-');
  const host = path.join(dir, 'cc1');
  const bytes = Buffer.from(`a compiler ${Math.random()}\n`.repeat(1000));
  fs.writeFileSync(host, bytes, { mode: 0o755 });
  const cache = path.join(dir, 'cache', 'gg-ts');
  const pool = HostFilePool.open(cache);
  assert.ok(pool, 'a private cache directory is trusted');
  return { host, bytes, cache, pool };
}

const store = (): LocalStore => new LocalStore(path.join(tempDir('gg-pool-store-'), '.gg'));

describe('HostFilePool', () => {
  it("a second store gets the pool's blob as a hard link, read-only, with the host file's content", () => {
    const { host, bytes, pool } = setup();
    const a = store();
    const name = pool.put(a, host);
    assert.equal(name, computeName(bytes));
    const b = store();
    assert.equal(pool.put(b, host), name);
    const sa = fs.statSync(a.blobPath(name));
    const sb = fs.statSync(b.blobPath(name));
    assert.equal(sb.ino, sa.ino, 'one inode: linked, not copied');
    assert.equal(sb.mode & 0o222, 0, 'no one may write it (a writer through one store would change them all)');
    assert.ok(fs.readFileSync(b.blobPath(name)).equals(bytes));
    assert.equal(b.verifiedBlobPath(name), b.blobPath(name), "the store's own check passes");
  });

  it("a blob moved only by gg's own links (a jail root staged from a store) is not hashed again by the next store", async () => {
    const { host, cache, pool } = setup();
    const a = store();
    const name = pool.put(a, host);
    const pooled = path.join(cache, 'pool', 'blobs', name);
    const log = path.join(cache, 'pool', 'blob-names.log');
    const key = (): string => {
      const st = fs.statSync(pooled, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs} ${name}`;
    };
    // staged as the jail does (the store's hash cache carries the name over its own link)
    a.hashCache.keepName(a.blobPath(name), () => fs.linkSync(a.blobPath(name), path.join(tempDir('gg-root-'), 'cc1')));
    await new Promise((r) => setTimeout(r, 1100)); // (a state younger than a second is never cached)
    pool.flush();
    assert.ok(fs.readFileSync(log, 'utf8').split('\n').includes(key()), 'the staged state is known to the pool');
    // a rewrite (not gg's link) after that: the store knows nothing of the new state, so neither does the pool
    const c = store();
    pool.put(c, host);
    const st = fs.statSync(pooled);
    fs.chmodSync(pooled, 0o644);
    fs.writeFileSync(pooled, Buffer.from('x'.repeat(st.size)));
    fs.chmodSync(pooled, 0o444);
    fs.utimesSync(pooled, st.atime, st.mtime);
    await new Promise((r) => setTimeout(r, 1100));
    pool.flush();
    assert.ok(!fs.readFileSync(log, 'utf8').split('\n').includes(key()), 'a rewritten state is not learned');
  });

  it('a tampered pool blob is detected: the next store gets a copy of the host file, and the old stores see it', () => {
    const { host, bytes, cache, pool } = setup();
    const a = store();
    const name = pool.put(a, host);
    const pooled = path.join(cache, 'pool', 'blobs', name);
    // rewrite in place (same size, same mtime), as someone who can write the store could through its link
    const st = fs.statSync(pooled);
    fs.chmodSync(pooled, 0o644);
    const bad = Buffer.from(bytes);
    bad[0] = bad[0]! ^ 1;
    fs.writeFileSync(pooled, bad);
    fs.chmodSync(pooled, 0o444);
    fs.utimesSync(pooled, st.atime, st.mtime);
    const b = store();
    assert.equal(pool.put(b, host), name);
    assert.ok(fs.readFileSync(b.blobPath(name)).equals(bytes), 'the host content, not the tampered blob');
    assert.notEqual(fs.statSync(b.blobPath(name)).ino, st.ino);
    assert.ok(fs.readFileSync(pooled).equals(bytes), 'the pool holds the good content again');
    assert.throws(() => a.verifiedBlobPath(name), /corrupt/, 'the store that shared the inode notices too');
  });

  it('is refused when others may write its directories, or when they are links', () => {
    const { cache } = setup();
    fs.chmodSync(cache, 0o777);
    assert.equal(HostFilePool.open(cache), undefined, 'writable by others');
    fs.chmodSync(cache, 0o700);
    fs.chmodSync(path.join(cache, 'pool', 'blobs'), 0o775);
    assert.equal(HostFilePool.open(cache), undefined, 'blobs writable by the group');
    fs.chmodSync(path.join(cache, 'pool', 'blobs'), 0o700);
    assert.ok(HostFilePool.open(cache), 'premise: trusted again');
    fs.chmodSync(path.join(cache, 'pool', 'host-names.log'), 0o666);
    assert.equal(HostFilePool.open(cache), undefined, 'a log others may write');
    fs.chmodSync(path.join(cache, 'pool', 'host-names.log'), 0o600);
    const moved = `${cache}-real`;
    fs.renameSync(cache, moved);
    fs.symlinkSync(moved, cache);
    assert.equal(HostFilePool.open(cache), undefined, 'a link in place of the cache directory');
    fs.rmSync(cache);
    fs.renameSync(moved, cache);
    const log = path.join(cache, 'pool', 'blob-names.log');
    fs.rmSync(log);
    fs.symlinkSync(path.join(os.tmpdir(), 'elsewhere.log'), log);
    assert.equal(HostFilePool.open(cache), undefined, 'a link in place of a log');
  });

  it('a link planted as a pool blob is not followed: the store gets a copy', () => {
    const { host, bytes, cache, pool } = setup();
    const name = computeName(bytes);
    const decoy = path.join(tempDir('gg-pool-decoy-'), 'decoy');
    fs.writeFileSync(decoy, bytes, { mode: 0o444 });
    fs.symlinkSync(decoy, path.join(cache, 'pool', 'blobs', name));
    const a = store();
    assert.equal(pool.put(a, host), name);
    assert.notEqual(fs.statSync(a.blobPath(name)).ino, fs.statSync(decoy).ino);
    assert.ok(fs.lstatSync(path.join(cache, 'pool', 'blobs', name)).isFile(), 'replaced by the real blob');
  });

  it('a store on another file system gets a copy', (t) => {
    const shm = '/dev/shm';
    let other: string;
    try {
      other = fs.mkdtempSync(path.join(shm, 'gg-pool-'));
    } catch {
      t.skip('no /dev/shm here');
      return;
    }
    try {
      if (fs.statSync(other).dev === fs.statSync(os.tmpdir()).dev) {
        t.skip(`${shm} is on the temp directory's file system`);
        return;
      }
      const { host, bytes } = setup();
      const pool = HostFilePool.open(path.join(other, 'gg-ts'))!;
      const a = store();
      const name = pool.put(a, host);
      const b = store();
      assert.equal(pool.put(b, host), name);
      assert.ok(fs.readFileSync(b.blobPath(name)).equals(bytes));
      assert.notEqual(fs.statSync(b.blobPath(name)).ino, fs.statSync(a.blobPath(name)).ino);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
