/**
 * A per-user pool of the blobs of host files (compilers, assemblers, their libraries, system headers), shared
 * by every `.gg` of the user: a fresh store gets them as hard links to the pool's copies instead of copying and
 * hashing ~100 MB of toolchain on the build's critical path.
 *
 * - `host-names.log`: a HashCache keyed by the host file's (dev, inode, size, mtime, ctime): which content a
 *   host file has, hashed once per user and file version.
 * - `blobs/NAME`: the content, a hard link of the first store blob made from it (read-only, ours).
 * - `blob-names.log`: a HashCache of the pool blobs' own states. A pool blob whose state is not the one last
 *   verified (its ctime moves on every link; a rewrite in place moves it too) is hashed again before use, and
 *   removed if it no longer matches its name: then the host file is copied as without a pool.
 *
 * Trusted only when every directory from the user's cache down is a real directory (no symbolic link), ours,
 * and writable by no one else, and the logs are regular files of ours writable by no one else: another user
 * could otherwise point a host file at a blob of their choosing. A store on another file system (EXDEV), or
 * any failure to link, falls back to the copy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HashCache, hashFileUncached } from './hash-cache.js';
import type { LocalStore } from './local-store.js';

/** Host files into a store: through a pool when there is one, else copied and hashed by the store itself. */
export interface HostFiles {
  /** The name of a host file's content (stat-keyed cache). */
  nameOf(file: string): string;
  /** Put a host file's content into the store; its name. */
  put(file: string, knownName?: string): string;
  /** The file's stat and the cached name of exactly that state, if known (HashCache.stamped). */
  stamped(file: string): { st: fs.BigIntStats; name: string } | undefined;
}

let tmpCounter = 0;
const LOG_MAX_BYTES = 8 << 20;

/** The user's cache directory for gg ($XDG_CACHE_HOME/gg-ts, else ~/.cache/gg-ts); undefined without a home. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'gg-ts');
  const home = env['HOME'];
  return home && path.isAbsolute(home) ? path.join(home, '.cache', 'gg-ts') : undefined;
}

/** A directory that is not a link, is ours and that no one else may write (made, mode 0700, when missing). */
export function privateDir(dir: string, create: boolean): boolean {
  let st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (st === undefined && create) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch {
      return false;
    }
    st = fs.lstatSync(dir, { throwIfNoEntry: false });
  }
  return st !== undefined && st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

/**
 * The content of a regular file of ours that no one else may write, opened without following links and
 * checked through that descriptor (a swap after the check cannot slip another file in); else undefined.
 */
export function readPrivateFile(file: string): Buffer | undefined {
  return withFileNoFollow(file, (fd) => {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return undefined;
    return fs.readFileSync(fd);
  });
}

/** `use` applied to `file` opened read-only without following links; undefined if it cannot be opened or `use` throws. */
function withFileNoFollow<T>(file: string, use: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    return use(fd);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** A log file that is missing (made, mode 0600) or a regular file of ours no one else may write. */
function privateLog(file: string): boolean {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600));
  } catch {
    // there already (checked below), or not creatable (refused below)
  }
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

export class HostFilePool {
  private readonly blobsDir: string;
  /** Pool blobs this process put into a store, and the store: see flush. */
  private readonly shared = new Map<string, { name: string; store: LocalStore }>();

  private constructor(
    readonly dir: string,
    private readonly hostNames: HashCache,
    private readonly blobNames: HashCache,
  ) {
    this.blobsDir = path.join(dir, 'blobs');
  }

  /**
   * The pool in `cacheDir` (the user's cache directory: made if missing), or undefined when it cannot be
   * trusted or made. Every directory from `cacheDir` down is checked.
   */
  static open(cacheDir: string | undefined = userCacheDir()): HostFilePool | undefined {
    if (cacheDir === undefined || process.getuid === undefined) return undefined;
    try {
      fs.mkdirSync(path.dirname(cacheDir), { recursive: true, mode: 0o700 });
    } catch {
      return undefined;
    }
    const dir = path.join(cacheDir, 'pool');
    if (![cacheDir, dir, path.join(dir, 'blobs')].every((d) => privateDir(d, true))) return undefined;
    const logs = [path.join(dir, 'host-names.log'), path.join(dir, 'blob-names.log')];
    // Append-only (each build adds the states its links moved the blobs to): a long log starts over, which
    // costs one hash of each file and blob.
    for (const log of logs)
      if ((fs.lstatSync(log, { throwIfNoEntry: false })?.size ?? 0) > LOG_MAX_BYTES) fs.rmSync(log, { force: true });
    if (!logs.every(privateLog)) return undefined;
    return new HostFilePool(dir, new HashCache(logs[0]), new HashCache(logs[1]));
  }

  /** A directory of the pool's for caches that go with its names (made; undefined when not private). */
  subdir(name: string): string | undefined {
    const d = path.join(this.dir, name);
    return privateDir(d, true) ? d : undefined;
  }

  /** HostFiles for `store` through this pool. */
  filesFor(store: LocalStore): HostFiles {
    return {
      nameOf: (f) => this.nameOf(f),
      put: (f, known) => this.put(store, f, known),
      stamped: (f) => this.hostNames.stamped(f),
    };
  }

  nameOf(file: string): string {
    return this.hostNames.hashFile(file);
  }

  /**
   * `file`'s content into `store`: a hard link of the pool's blob when it has one that still holds that
   * content, else the store's own copy (which then joins the pool).
   */
  put(store: LocalStore, file: string, knownName?: string): string {
    const name = knownName ?? this.nameOf(file);
    if (store.hasSync(name)) return name;
    const pooled = path.join(this.blobsDir, name);
    if (this.verified(pooled, name) && this.linkInto(pooled, store.blobPath(name), store.tempPath('pool'))) {
      store.hashCache.rememberFile(store.blobPath(name), name, { blob: true });
      this.shared.set(pooled, { name, store });
      return name;
    }
    store.putFileSync(file, name);
    if (this.adopt(store, name, pooled)) this.shared.set(pooled, { name, store });
    return name;
  }

  /**
   * Whether the pool blob is a read-only regular file of ours holding `name`'s content: its state is the one
   * last verified, else it is hashed (through a descriptor opened without following links). A blob that no
   * longer matches is removed.
   */
  private verified(pooled: string, name: string): boolean {
    const ok = withFileNoFollow(pooled, (fd) => {
      const st = fs.fstatSync(fd, { bigint: true });
      // (sealed as a store blob: 0444 or 0555)
      if (!st.isFile() || st.uid !== BigInt(process.getuid!()) || (st.mode & 0o7222n) !== 0n) return false;
      if (this.blobNames.nameFor(st) === name) return true;
      const actual = hashFileUncached(`/proc/self/fd/${fd}`, Number(st.size));
      const after = fs.fstatSync(fd, { bigint: true });
      if (actual !== name) {
        fs.rmSync(pooled, { force: true });
        return false;
      }
      if (HashCache.sameState(st, after)) this.blobNames.learn(after, name);
      return true;
    });
    return ok ?? false;
  }

  /**
   * Link `pooled` to `dest` through `tmp` (a rename never replaces an existing blob with a half-made one).
   * The link moves the blob's ctime: its verified name is carried over (HashCache.keepName).
   */
  private linkInto(pooled: string, dest: string, tmp: string): boolean {
    try {
      // (the rename moves the ctime too)
      this.blobNames.keepName(pooled, () => {
        fs.linkSync(pooled, tmp);
        fs.renameSync(tmp, dest);
      });
      return true;
    } catch {
      fs.rmSync(tmp, { force: true });
      return false;
    }
  }

  /**
   * A store blob joins the pool under its name (a hard link; false when linking fails). The link moves the
   * blob's ctime: the store's hash cache carries its name over (HashCache.keepName).
   */
  private adopt(store: LocalStore, name: string, pooled: string): boolean {
    const tmp = path.join(this.blobsDir, `.tmp-${process.pid}-${(tmpCounter++).toString(36)}`);
    const blob = store.blobPath(name);
    try {
      store.hashCache.keepName(blob, () => {
        fs.linkSync(blob, tmp);
        fs.renameSync(tmp, pooled);
      });
      this.blobNames.rememberFile(pooled, name, { blob: true });
      return true;
    } catch {
      fs.rmSync(tmp, { force: true });
      return false;
    }
  }

  /**
   * Write the logs. First, each blob this process shared with a store, and that the store's own links moved
   * since (a jail root staged from it: the next fresh store would hash it again), takes the state the store's
   * hash cache carried its name to, gg's own links only (HashCache.keepName): a rewrite is not carried.
   */
  flush(): void {
    for (const [pooled, { name, store }] of this.shared) {
      const st = fs.statSync(pooled, { bigint: true, throwIfNoEntry: false });
      if (st !== undefined && this.blobNames.nameFor(st) === undefined && store.hashCache.nameFor(st) === name)
        this.blobNames.learn(st, name);
    }
    this.shared.clear();
    this.hostNames.flush();
    this.blobNames.flush();
  }
}

/** HostFiles without a pool: the store copies and hashes each file. */
export function storeHostFiles(store: LocalStore): HostFiles {
  return {
    nameOf: (f) => store.hashCache.hashFile(f),
    put: (f, known) => store.putFileSync(f, known).name,
    stamped: (f) => store.hashCache.stamped(f),
  };
}
