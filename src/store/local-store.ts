/**
 * Temp files are created with O_EXCL and never O_TRUNC: ext4 flushes a truncated-and-rewritten file's data on
 * close (auto_da_alloc), which made every small write ~10x slower.
 *
 * The local store: `.gg/blobs/NAME` and `.gg/reductions/REF`, byte-compatible with gg's layout.
 * Every write goes to `.gg/tmp` first and is renamed into place once complete and verified, so a crash or a
 * full disk never leaves a half-written object. Every read is verified (through the hash cache for files
 * handed to programs by path, so an unchanged blob is not rehashed on every use).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GgError, fromSystemError } from '../errors.js';
import { computeName, isMemoResult, NameHasher } from '../ir/name.js';
import { HashCache, hashFileUncached } from './hash-cache.js';
import { assertRegularFile } from '../ir/regular-file.js';
import type { PutResult, Store } from './store.js';

let tmpCounter = 0;

/**
 * `dir/name` for one path component (`name` without a '/', and not '.', '..' or empty: a name or a memo ref never
 * is), as path.join would return it for `dir` as path.join made it. Why not path.join: it normalizes the whole
 * string character by character, ~60,000 instructions a call while V8 still interprets it, and a memoized force
 * builds two of these paths per target (its memo entry, its blob). Anything else goes through path.join.
 */
function childPath(dir: string, name: string): string {
  return name === '' || name === '.' || name === '..' || name.includes('/') ? path.join(dir, name) : `${dir}/${name}`;
}

/** Where memo entries are read (getReductionSync): longer than any name with its tag. */
const memoBuffer = Buffer.allocUnsafe(1024);

/**
 * A blob is immutable: a regular file owned by gg's user, read-only for everyone, without setuid, setgid or
 * sticky bits, whatever mode the thunk (or the collected file) had. Done on the open file (O_NOFOLLOW), before
 * it becomes visible under its name.
 */
export function sealBlob(file: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new GgError('GG_E_INTERNAL', `${file} is not a regular file`);
    const uid = process.getuid?.();
    const gid = process.getgid?.();
    if (uid !== undefined && gid !== undefined && (st.uid !== uid || st.gid !== gid)) fs.fchownSync(fd, uid, gid);
    const mode = st.mode & 0o111 ? 0o555 : 0o444;
    if ((st.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** Files up to this size are read into memory when stored (putFileSync), larger ones copied by the kernel. */
const READ_FIRST_BYTES = 1024 * 1024;

function changedWhileStored(file: string, expected: string, actual: string): GgError {
  return new GgError('GG_E_OBJECT_CORRUPT', `${file} does not match ${expected} (it hashes to ${actual})`, {
    hint: 'the file changed while it was being stored; run the command again',
  });
}

export class LocalStore implements Store {
  readonly description: string;
  readonly blobsDir: string;
  readonly reductionsDir: string;
  readonly tmpDir: string;
  readonly cacheDir: string;
  readonly hashCache: HashCache;
  private readonly executable = new Set<string>();

  constructor(readonly ggDir: string) {
    this.description = `local ${ggDir}`;
    this.blobsDir = path.join(ggDir, 'blobs');
    this.reductionsDir = path.join(ggDir, 'reductions');
    this.tmpDir = path.join(ggDir, 'tmp');
    this.cacheDir = path.join(ggDir, 'cache');
    for (const d of [this.blobsDir, this.reductionsDir, this.tmpDir, this.cacheDir])
      fs.mkdirSync(d, { recursive: true });
    this.hashCache = HashCache.forLog(path.join(this.cacheDir, 'hash-cache.log'));
  }

  /** A fresh path in .gg/tmp (same file system as the blobs, so a rename moves it into place). */
  tempPath(prefix = 'obj'): string {
    return path.join(this.tmpDir, `${prefix}-${process.pid}-${Date.now().toString(36)}-${(tmpCounter++).toString(36)}`);
  }

  blobPath(name: string): string {
    return childPath(this.blobsDir, name);
  }

  hasSync(name: string): boolean {
    return fs.existsSync(this.blobPath(name));
  }

  async has(name: string): Promise<boolean> {
    return this.hasSync(name);
  }

  async hasMany(names: readonly string[]): Promise<boolean[]> {
    return names.map((n) => this.hasSync(n));
  }

  private missing(name: string): GgError {
    return new GgError('GG_E_OBJECT_MISSING', `object ${name} is not in ${this.description}`, {
      hint: 'collect it first (gg collect FILE), or force the thunk that produces it',
    });
  }

  /** Drop a copy that does not match its name and report it. */
  private corrupt(name: string, actual: string): GgError {
    try {
      fs.unlinkSync(this.blobPath(name));
    } catch {
      // already gone
    }
    return new GgError(
      'GG_E_OBJECT_CORRUPT',
      `object ${name} in ${this.description} is corrupt (its content hashes to ${actual}); the bad copy was removed`,
      {
        hint: 'collect the file again, or re-run gg force to recompute it',
      },
    );
  }

  getSync(name: string): Buffer {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.blobPath(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(name);
      throw fromSystemError(e, `reading ${name}`);
    }
    const actual = computeName(data);
    if (actual !== name) throw this.corrupt(name, actual);
    return data;
  }

  async get(name: string): Promise<Buffer> {
    return this.getSync(name);
  }

  /** Blobs used as programs need the execute bit; set once, on first use as one. */
  ensureExecutable(file: string): void {
    if (this.executable.has(file)) return;
    const st = fs.statSync(file);
    if ((st.mode & 0o7777) !== 0o555) fs.chmodSync(file, 0o555);
    this.executable.add(file);
  }

  /** Path of a blob whose content was checked against its name (cached by stat key while unchanged). */
  verifiedBlobPath(name: string): string {
    const p = this.blobPath(name);
    let actual: string;
    try {
      actual = this.hashCache.hashFile(p, { blob: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(name);
      throw fromSystemError(e, `reading ${name}`);
    }
    if (actual !== name) throw this.corrupt(name, actual);
    return p;
  }

  async getToFile(name: string, dest: string, mode?: number): Promise<void> {
    const src = this.verifiedBlobPath(name);
    const tmp = `${dest}.gg-tmp-${process.pid}-${Date.now().toString(36)}-${(tmpCounter++).toString(36)}`;
    try {
      // A copy, never a link: the user may edit the output in place, and a blob must stay what its name says.
      // COPYFILE_EXCL: the temp is created (O_EXCL), never truncated (see above) and never a planted link.
      fs.copyFileSync(src, tmp, fs.constants.COPYFILE_EXCL);
      if (mode !== undefined) fs.chmodSync(tmp, mode);
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fromSystemError(e, `writing ${dest}`);
    }
  }

  /** Move a finished file from .gg/tmp into the blobs under its (given or computed) name. */
  adoptFile(tmpFile: string, knownName?: string): PutResult {
    const name = knownName ?? hashFileUncached(tmpFile);
    const dest = this.blobPath(name);
    if (fs.existsSync(dest)) {
      fs.rmSync(tmpFile, { force: true });
      return { name, written: false };
    }
    try {
      sealBlob(tmpFile);
      fs.renameSync(tmpFile, dest);
    } catch (e) {
      fs.rmSync(tmpFile, { force: true });
      throw fromSystemError(e, `storing ${name}`);
    }
    this.hashCache.rememberFile(dest, name, { blob: true });
    return { name, written: true };
  }

  putSync(data: Buffer): PutResult {
    return this.putNamedSync(data, computeName(data));
  }

  private putNamedSync(data: Buffer, name: string): PutResult {
    if (fs.existsSync(this.blobPath(name))) return { name, written: false };
    const tmp = this.tempPath();
    try {
      fs.writeFileSync(tmp, data, { mode: 0o555, flag: 'wx' });
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fromSystemError(e, `storing ${name}`);
    }
    return this.adoptFile(tmp, name);
  }

  async put(data: Buffer): Promise<PutResult> {
    return this.putSync(data);
  }

  /** Store a user's file: a copy (never a link: the user may edit the original), hashed as it lands. */
  putFileSync(file: string, knownName?: string): PutResult {
    assertRegularFile(file);
    const cached = knownName ?? this.hashCache.peek(file);
    if (cached !== undefined && fs.existsSync(this.blobPath(cached))) return { name: cached, written: false };
    const before = fs.statSync(file, { bigint: true });
    if (before.size <= READ_FIRST_BYTES) {
      // A small file is read once and named: when the store holds that content already (a library the build
      // relinks against, just placed, so too recent for the hash cache), nothing is copied or created.
      let data: Buffer;
      try {
        data = fs.readFileSync(file);
      } catch (e) {
        throw fromSystemError(e, `storing ${file}`);
      }
      const name = computeName(data);
      if (knownName !== undefined && name !== knownName) throw changedWhileStored(file, knownName, name);
      const after = fs.statSync(file, { bigint: true });
      if (HashCache.sameState(before, after)) this.hashCache.learn(after, name);
      return this.putNamedSync(data, name);
    }
    const tmp = this.tempPath();
    let name: string;
    try {
      fs.copyFileSync(file, tmp);
      name = hashFileUncached(tmp);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fromSystemError(e, `storing ${file}`);
    }
    if (knownName !== undefined && name !== knownName) {
      fs.rmSync(tmp, { force: true });
      throw changedWhileStored(file, knownName, name);
    }
    // The copy's name is the file's, if the file did not change while it was copied: no second hash.
    const after = fs.statSync(file, { bigint: true });
    if (HashCache.sameState(before, after)) this.hashCache.learn(after, name);
    return this.adoptFile(tmp, name);
  }

  async putFile(file: string, name?: string): Promise<PutResult> {
    return this.putFileSync(file, name);
  }

  async putStream(name: string, body: Readable): Promise<PutResult> {
    if (this.hasSync(name)) {
      body.resume();
      return { name, written: false };
    }
    const tmp = this.tempPath('dl');
    const hasher = new NameHasher();
    body.on('data', (chunk: Buffer) => hasher.update(chunk));
    try {
      // Created here, not by the stream's own asynchronous open: a body that fails at once would otherwise
      // leave the file that open creates after the cleanup below has run.
      const fd = fs.openSync(tmp, 'wx', 0o555);
      // Loaded here: node:stream/promises was ~1 ms of every start, and only downloads need it.
      const { pipeline } = await import('node:stream/promises');
      await pipeline(body, fs.createWriteStream('', { fd }));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fromSystemError(e, `storing ${name}`);
    }
    const actual = hasher.digestName();
    if (actual !== name) {
      fs.rmSync(tmp, { force: true });
      throw new GgError('GG_E_OBJECT_CORRUPT', `received data for ${name} hashes to ${actual}; it was discarded`, {
        hint: 'the remote copy is damaged; it will be recomputed or re-uploaded',
      });
    }
    return this.adoptFile(tmp, name);
  }

  private reductionPath(ref: string): string {
    return childPath(this.reductionsDir, ref);
  }

  getReductionSync(ref: string): string | undefined {
    // One read into a reused buffer (no fstat, no allocation: a memoized force reads one entry per target); an
    // entry that fills it is read whole.
    let text: string;
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.reductionPath(ref), 'r');
      const n = fs.readSync(fd, memoBuffer, 0, memoBuffer.length, 0);
      text = n < memoBuffer.length ? memoBuffer.toString('latin1', 0, n) : fs.readFileSync(fd, 'latin1');
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    const result = text.trim();
    // A damaged memo entry is only a cache miss.
    return isMemoResult(result) ? result : undefined;
  }

  async getReduction(ref: string): Promise<string | undefined> {
    return this.getReductionSync(ref);
  }

  async getReductions(refs: readonly string[]): Promise<(string | undefined)[]> {
    return refs.map((r) => this.getReductionSync(r));
  }

  putReductionSync(ref: string, result: string): void {
    const p = this.reductionPath(ref);
    // Fast path, one create: a new memo entry written in a single write(). A reader that catches it empty
    // sees an invalid name, which is only a cache miss; on any error the entry is removed.
    let fd: number | undefined;
    try {
      fd = fs.openSync(p, 'wx');
      fs.writeSync(fd, result);
      fs.closeSync(fd);
      return;
    } catch (e) {
      if (fd !== undefined) {
        fs.closeSync(fd);
        fs.rmSync(p, { force: true });
        throw fromSystemError(e, `recording the result of ${ref}`);
      }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, `recording the result of ${ref}`);
    }
    if (this.getReductionSync(ref) === result) return;
    // Replacing an entry (a dynamic-graph chain shortened to its value): temp + rename, atomic.
    const tmp = this.tempPath('red');
    try {
      fs.writeFileSync(tmp, result, { flag: 'wx' });
      fs.renameSync(tmp, p);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fromSystemError(e, `recording the result of ${ref}`);
    }
  }

  async putReduction(ref: string, result: string): Promise<void> {
    this.putReductionSync(ref, result);
  }

  async deleteReduction(ref: string): Promise<void> {
    fs.rmSync(this.reductionPath(ref), { force: true });
  }

  /**
   * Entries with the same result share one file: the first is created, the others are hard links to it.
   * A link only adds a directory entry, while a create allocates an inode, which costs ~25x more on this
   * machine's ext4 (mounted with `discard`); a thunk's memo is 2-4 entries for one result.
   */
  async putReductions(entries: readonly (readonly [string, string])[]): Promise<void> {
    const firstFor = new Map<string, string>();
    for (const [ref, result] of entries) {
      const first = firstFor.get(result);
      if (first === undefined) {
        this.putReductionSync(ref, result);
        firstFor.set(result, ref);
        continue;
      }
      try {
        fs.linkSync(this.reductionPath(first), this.reductionPath(ref));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, `recording the result of ${ref}`);
        this.putReductionSync(ref, result); // an existing entry: compare, replace atomically if it differs
      }
    }
  }

  async close(): Promise<void> {
    this.hashCache.flush();
  }
}
