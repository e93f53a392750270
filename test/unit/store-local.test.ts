/**
 * The local store on its own: no half-written object after a write fails or the process dies mid-write, memo
 * entries of one result hard-linked (and replaced one at a time), a blob rewritten in place with its mtime put
 * back caught on the next read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import { computeName } from '../../src/ir/name.js';
import { settled } from '../../src/store/hash-cache.js';
import { LocalStore } from '../../src/store/local-store.js';
import { REPO } from '../helpers/cli.js';
import { cleanupTemps, randomObject, tempLocalStore } from '../helpers/store-fixtures.js';

after(cleanupTemps);

const LOCAL_STORE_JS = pathToFileURL(path.join(REPO, 'dist/src/store/local-store.js')).href;

/** Run `body` (an ES module's text, with `store` a LocalStore on ggDir) in a child node, under `sh -c prefix`. */
function inChild(
  ggDir: string,
  body: string,
  prefix = '',
): { status: number | null; signal: string | null; out: string } {
  const script = `const { LocalStore } = await import(${JSON.stringify(LOCAL_STORE_JS)});
const store = new LocalStore(${JSON.stringify(ggDir)});
${body}`;
  const r = spawnSync('sh', ['-c', `${prefix} exec "$0" --input-type=module -e "$1"`, process.execPath, script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, signal: r.signal, out: r.stdout + r.stderr };
}

function leftovers(store: LocalStore): string[] {
  return fs.readdirSync(store.tmpDir);
}

describe('local store: atomic writes', () => {
  it('a write that fails part-way (file size limit hit after 32 KiB) leaves no object and no temp file', () => {
    const store = tempLocalStore();
    const data = randomObject(1024 * 1024);
    const name = computeName(data);
    const dataFile = path.join(store.ggDir, '..', 'data');
    fs.writeFileSync(dataFile, data);
    // dash's ulimit -f counts 512-byte blocks; SIGXFSZ is caught so write() fails with EFBIG instead of killing.
    const r = inChild(
      store.ggDir,
      `process.on('SIGXFSZ', () => {});
const data = (await import('node:fs')).readFileSync(${JSON.stringify(dataFile)});
try { store.putSync(data); console.log('stored'); } catch (e) { console.log('code=' + e.code); }`,
      'ulimit -f 64 &&',
    );
    assert.match(r.out, /^code=GG_E_[A-Z_]+$/m, r.out);
    assert.equal(store.hasSync(name), false, 'no object under its name');
    assert.deepEqual(leftovers(store), [], 'the temp file was removed');
    // The same object stores fine once the limit is gone, and reads back whole.
    assert.equal(store.putSync(data).written, true);
    assert.deepEqual(store.getSync(name), data);
  });

  it('a process killed mid-write (SIGKILL after the first MiB of a stream) leaves no object under its name', () => {
    const store = tempLocalStore();
    const name = computeName(Buffer.alloc(3 * 1024 * 1024, 1));
    const r = inChild(
      store.ggDir,
      `const { Readable } = await import('node:stream');
let chunks = 0;
const body = new Readable({ read() {
  if (chunks++ === 0) this.push(Buffer.alloc(1024 * 1024, 1));
  else setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50); // the first MiB is on disk by then
} });
await store.putStream(${JSON.stringify(name)}, body);
console.log('finished');`,
    );
    assert.equal(r.signal, 'SIGKILL', r.out);
    assert.equal(store.hasSync(name), false);
    assert.throws(
      () => store.getSync(name),
      (e) => isGgError(e, 'GG_E_OBJECT_MISSING'),
    );
    const partial = leftovers(store).map((f) => fs.statSync(path.join(store.tmpDir, f)).size);
    assert.deepEqual(partial, [1024 * 1024], 'the half-written data stayed in .gg/tmp, never under the name');
  });

  it('a stream that errors, or whose bytes do not match the name, leaves nothing behind', async () => {
    const store = tempLocalStore();
    const good = randomObject(200_000);
    const name = computeName(good);
    const failing = new Readable({
      read() {
        this.push(good.subarray(0, 1000));
        this.destroy(new Error('connection reset'));
      },
    });
    await assert.rejects(store.putStream(name, failing), (e) => isGgError(e));
    await assert.rejects(store.putStream(name, Readable.from([randomObject(200_000)])), (e) =>
      isGgError(e, 'GG_E_OBJECT_CORRUPT'),
    );
    assert.equal(store.hasSync(name), false);
    assert.deepEqual(leftovers(store), []);
    assert.equal((await store.putStream(name, Readable.from([good]))).written, true);
    assert.equal(fs.statSync(store.blobPath(name)).mode & 0o222, 0, 'sealed read-only');
  });

  it('a file that changes between hashing and storing under a known name is refused, not stored', () => {
    const store = tempLocalStore();
    const file = path.join(store.ggDir, '..', 'input');
    fs.writeFileSync(file, 'version 1\n');
    const stale = computeName(Buffer.from('version 0\n'));
    assert.throws(
      () => store.putFileSync(file, stale),
      (e) => isGgError(e, 'GG_E_OBJECT_CORRUPT'),
    );
    assert.equal(store.hasSync(stale), false);
    assert.deepEqual(leftovers(store), []);
  });
});

describe('local store: storing files', () => {
  it('a just-written file whose content the store holds is named without a copy (nothing made in .gg/tmp)', async () => {
    // A library the build links 20 programs against, placed a moment ago: too recent for the hash cache.
    const store = tempLocalStore();
    const data = randomObject(50_000);
    const { name } = store.putSync(data);
    await new Promise((r) => setTimeout(r, 20)); // so a change to .gg/tmp would move its mtime
    const tmpBefore = fs.statSync(store.tmpDir, { bigint: true }).mtimeNs;
    const file = path.join(store.ggDir, '..', 'libjust-placed.so');
    fs.writeFileSync(file, data);
    assert.deepEqual(store.putFileSync(file), { name, written: false });
    assert.equal(fs.statSync(store.tmpDir, { bigint: true }).mtimeNs, tmpBefore, 'no temp file was made');
    fs.appendFileSync(file, 'x');
    const other = store.putFileSync(file);
    assert.equal(other.written, true);
    assert.deepEqual(store.getSync(other.name), fs.readFileSync(file));
  });
});

describe('local store: memo entries', () => {
  const T = (s: string): string => computeName(Buffer.from(`##GGTHUNK##${s}`));
  const V = (s: string): string => computeName(Buffer.from(s));

  it('entries with one result share one file (hard links); replacing one leaves its siblings alone', async () => {
    const store = tempLocalStore();
    const [a, b, c] = [T('a'), T('b'), T('c')];
    const [v, w] = [V('v'), V('w')];
    await store.putReductions([
      [a, v],
      [`${b}#out`, v],
      [c, w],
    ]);
    const st = (ref: string): fs.Stats => fs.statSync(path.join(store.reductionsDir, ref));
    assert.equal(st(a).ino, st(`${b}#out`).ino, 'one inode for one result');
    assert.equal(st(a).nlink, 2);
    assert.notEqual(st(c).ino, st(a).ino);
    assert.equal(st(c).nlink, 1);
    // A second write of the same entries changes nothing.
    await store.putReductions([
      [a, v],
      [`${b}#out`, v],
    ]);
    assert.equal(st(a).nlink, 2);
    // Replacing b's entry (a dynamic chain shortened) must not write through the shared inode into a's.
    await store.putReductions([[`${b}#out`, w]]);
    assert.equal(store.getReductionSync(`${b}#out`), w);
    fs.writeFileSync(path.join(store.reductionsDir, T('ok')), `${T('t')}#out\n`);
    assert.equal(store.getReductionSync(T('ok')), `${T('t')}#out`, 'a thunk output reference is a result');
    assert.equal(store.getReductionSync(a), v, "a's entry, once a link of b's, still holds its own result");
    assert.equal(st(a).nlink, 1);
    assert.deepEqual(leftovers(store), []);
  });

  it('a damaged or empty memo entry is a miss, never a result', () => {
    const store = tempLocalStore();
    const a = T('damaged');
    const bad = [
      '',
      'not a name',
      V('x').slice(0, 40),
      `${V('x')}#`.repeat(2),
      `${V('x')}#out`,
      `${T('t')}#../x`,
      `${T('t')}#`,
    ];
    for (const text of bad) {
      fs.writeFileSync(path.join(store.reductionsDir, a), text);
      assert.equal(store.getReductionSync(a), undefined, JSON.stringify(text));
    }
    // Entries are read into a 1 KiB buffer first: one as long or longer is read whole, never cut; a directory
    // is a miss.
    const longTag = `${T('t')}#${'o'.repeat(2000)}`;
    for (const text of [longTag, longTag.slice(0, 1024), `${V('y')}${' '.repeat(1100)}\n`]) {
      fs.writeFileSync(path.join(store.reductionsDir, a), text);
      assert.equal(store.getReductionSync(a), text.trim(), `${text.length} bytes`);
    }
    fs.rmSync(path.join(store.reductionsDir, a));
    fs.mkdirSync(path.join(store.reductionsDir, a));
    assert.equal(store.getReductionSync(a), undefined);
  });
});

describe('local store: reads are verified', () => {
  /** Rewrite a blob in place (same inode, same size), then put its mode and mtime back, as an attacker would. */
  function tamper(p: string): void {
    const ref = `${p}.times`;
    fs.writeFileSync(ref, '');
    const touch = (from: string, to: string): void =>
      assert.equal(spawnSync('touch', ['-r', from, to]).status, 0, `touch -r ${from} ${to}`);
    touch(p, ref);
    const before = fs.statSync(p, { bigint: true });
    fs.chmodSync(p, 0o644);
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, Buffer.from('#!/bin/sh\necho hostile\n'), 0, Number(before.size), 0);
    fs.closeSync(fd);
    fs.chmodSync(p, Number(before.mode & 0o7777n));
    touch(ref, p);
    const after = fs.statSync(p, { bigint: true });
    assert.deepEqual([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs], 'premise');
  }
  const trusted = Buffer.from('#!/bin/sh\necho trusted\n');

  for (const reader of ['the process that wrote it', 'a fresh process reading the persisted hash cache']) {
    it(`a blob rewritten in place with its mtime put back is caught by ${reader} (the cache keys on ctime)`, async () => {
      const store = tempLocalStore();
      const { name } = store.putSync(trusted);
      const p = store.verifiedBlobPath(name); // a cache hit from here on: the store wrote it and knows its name
      store.hashCache.flush();
      await new Promise((r) => setTimeout(r, 20)); // so the kernel's ctime moves
      tamper(p);
      if (reader.startsWith('a fresh')) {
        // Another process: stores opened on one .gg within a process share their cache (HashCache.forLog).
        const r = inChild(
          store.ggDir,
          `try { store.verifiedBlobPath(${JSON.stringify(name)}); console.log('read'); } catch (e) { console.log(e.code); }`,
        );
        assert.equal(r.out.trim(), 'GG_E_OBJECT_CORRUPT', r.out);
      } else {
        assert.throws(
          () => store.verifiedBlobPath(name),
          (e) => isGgError(e, 'GG_E_OBJECT_CORRUPT'),
        );
      }
      assert.equal(fs.existsSync(p), false, 'the bad copy was removed');
    });
  }

  it("gg's own hard link of a blob keeps its cached name (no rehash), and an edit after it is still caught", async () => {
    const store = tempLocalStore();
    const { name } = store.putSync(trusted);
    const p = store.verifiedBlobPath(name);
    await new Promise((r) => setTimeout(r, 20)); // so the link moves the kernel's ctime
    const before = fs.statSync(p, { bigint: true });
    const staged = path.join(store.ggDir, 'staged');
    store.hashCache.keepName(p, () => fs.linkSync(p, staged));
    const moved = fs.statSync(p, { bigint: true });
    assert.notEqual(moved.ctimeNs, before.ctimeNs, 'premise: the link moved the ctime');
    assert.equal(store.hashCache.peek(p), name, 'the name is known at the new ctime');
    // A link the cache did not know the name before: nothing is carried over.
    const other = path.join(store.ggDir, 'unknown');
    fs.writeFileSync(other, 'x');
    store.hashCache.keepName(other, () => fs.linkSync(other, `${other}.2`));
    assert.equal(store.hashCache.peek(other), undefined);
    await new Promise((r) => setTimeout(r, 20));
    tamper(p);
    assert.throws(
      () => store.verifiedBlobPath(name),
      (e) => isGgError(e, 'GG_E_OBJECT_CORRUPT'),
    );
  });

  it('stores opened on one .gg in a process share one hash cache: what one learns, the other knows unflushed', async () => {
    // gg infer --force: the infer's store and its runtime's. A blob whose ctime a jail-root link just moved is
    // not cacheable by hashing (too recent); only keepName knows it, and the other store rehashed it per thunk.
    const a = tempLocalStore();
    const b = new LocalStore(a.ggDir);
    const { name } = a.putSync(trusted);
    const p = a.verifiedBlobPath(name);
    await new Promise((r) => setTimeout(r, 20)); // so the link moves the kernel's ctime
    a.hashCache.keepName(p, () => fs.linkSync(p, path.join(a.ggDir, 'staged')));
    assert.equal(b.hashCache.peek(p), name, 'the other store knows the name at the new ctime, without a flush');
    const fresh = path.join(a.ggDir, '..', 'fresh-store');
    assert.notEqual(new LocalStore(fresh).hashCache, b.hashCache, 'another .gg has its own');
  });

  it("a file is cached once its timestamps are a tick of its file system's clock old, never before", async () => {
    const store = tempLocalStore();
    const f = path.join(store.ggDir, '..', 'lib.so');
    // written and hashed within 30 ms (tried again on a machine too loaded for that)
    let name = '';
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      fs.writeFileSync(f, `library v${i}`);
      name = store.hashCache.hashFile(f);
      if (process.hrtime.bigint() - t0 < 30_000_000n) break;
      assert.ok(i < 19, 'could not write and hash a file within 30 ms');
    }
    assert.equal(store.hashCache.peek(f), undefined, 'just written: a same-tick edit could keep its timestamps');
    const st = fs.statSync(f, { bigint: true });
    assert.notEqual(st.mtimeNs % 1_000_000_000n, 0n, 'premise: this file system keeps sub-second timestamps');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(store.hashCache.hashFile(f), name);
    assert.equal(store.hashCache.peek(f), name, '80 ms later (a tick here is taken as 50 ms): cached');
    // The rule itself: sub-second timestamps settle after 50 ms, whole seconds (FAT, ext3) after two.
    const at = (ns: bigint): fs.BigIntStats => ({ ...st, mtimeNs: ns, ctimeNs: ns });
    const t = 1_700_000_000_123_456_789n;
    assert.equal(settled(at(t), t + 40_000_000n), false);
    assert.equal(settled(at(t), t + 60_000_000n), true);
    const whole = 1_700_000_000_000_000_000n;
    assert.equal(settled(at(whole), whole + 1_500_000_000n), false);
    assert.equal(settled(at(whole), whole + 2_100_000_000n), true);
  });

  it('getSync rehashes every read: a blob damaged any way is corrupt, and removed', () => {
    const store = tempLocalStore();
    const { name } = store.putSync(Buffer.from('value\n'));
    const p = store.blobPath(name);
    fs.chmodSync(p, 0o644);
    fs.writeFileSync(p, 'valuE\n');
    assert.throws(
      () => store.getSync(name),
      (e) => isGgError(e, 'GG_E_OBJECT_CORRUPT'),
    );
    assert.equal(store.hasSync(name), false);
  });
});
