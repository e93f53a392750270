/**
 * Remembers the name of a file's content keyed by (device, inode, size, mtime, ctime), so unchanged files are
 * never rehashed (gg's hash cache). Persisted as an append-only log; loaded lazily once per process.
 * A file changed within one tick of its file system's clock is not cached: its timestamps may not yet tell a
 * later edit apart (settled).
 */
import fs from 'node:fs';
import { NameHasher, computeName } from '../ir/name.js';

const SECOND_NS = 1_000_000_000n;
/** One tick of a file system that keeps sub-second timestamps, with room (see settled). */
const FINE_TICK_NS = 50_000_000n;
/** One tick of one that keeps whole seconds (FAT's mtime: two). */
const COARSE_TICK_NS = 2n * SECOND_NS;

/**
 * Whether a file's timestamps, as of `nowNs`, already tell any later edit apart: the change they record is
 * over a tick of its file system's clock old, so an edit from now on gets other timestamps. A file system
 * with sub-second timestamps (ext4, xfs, btrfs, tmpfs: the kernel's coarse clock, a tick of 1-10 ms; exFAT:
 * 10 ms) shows it in both times, and a tick there is taken as 50 ms; whole seconds (ext3, FAT, some network
 * file systems) as two. (The check was one second for all: a library a build links and then links its
 * tests against was rehashed by each of those links.)
 */
export function settled(st: fs.BigIntStats, nowNs = BigInt(Date.now()) * 1_000_000n): boolean {
  const fine = st.mtimeNs % SECOND_NS !== 0n && st.ctimeNs % SECOND_NS !== 0n;
  const tick = fine ? FINE_TICK_NS : COARSE_TICK_NS;
  return nowNs - st.ctimeNs > tick && nowNs - st.mtimeNs > tick;
}

const SMALL_FILE = 4 * 1024 * 1024;

/**
 * The key of a file's state, change time included, for store blobs too: a blob rewritten in place with its
 * mtime put back (dd conv=notrunc; touch -r) keeps dev, inode, size and mtime, but the kernel moves its ctime,
 * which no one can set back. The price: gg's own hard links change ctime as well, so an input linked into a
 * run directory (relative file names) is hashed again on its next use; inputs at absolute paths live in
 * staged roots (one link per toolchain, not per run) and stay cached (docs/SECURITY.md, docs/BENCHMARKS.md).
 */
function statKey(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The live cache of each log file in this process (see HashCache.forLog). */
const shared = new Map<string, WeakRef<HashCache>>();
const collected = new FinalizationRegistry<string>((file) => {
  if (shared.get(file)?.deref() === undefined) shared.delete(file);
});

export class HashCache {
  private entries: Map<string, string> | undefined;
  private pending: string[] = [];

  constructor(private readonly logFile: string | undefined) {}

  /**
   * The one cache of `logFile` in this process. Two stores opened on one .gg (gg infer's, and the runtime its
   * --force builds with) must share it: a name one learns (a blob it wrote, a link it made) the other would
   * miss until the log is flushed, and rehash; a blob linked into a new jail root within the last second
   * (its ctime recent, so not cached) then stayed unknown, and a 100 MB compiler was rehashed per thunk.
   */
  static forLog(logFile: string): HashCache {
    const live = shared.get(logFile)?.deref();
    if (live) return live;
    const made = new HashCache(logFile);
    shared.set(logFile, new WeakRef(made));
    collected.register(made, logFile);
    return made;
  }

  private load(): Map<string, string> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    if (this.logFile) {
      let text = '';
      try {
        text = fs.readFileSync(this.logFile, 'utf8');
      } catch {
        // no cache yet
      }
      for (const line of text.split('\n')) {
        const sp = line.indexOf(' ');
        if (sp > 0) this.entries.set(line.slice(0, sp), line.slice(sp + 1));
      }
    }
    return this.entries;
  }

  /** Name of the file's content, from the cache when its stat key is known. */
  hashFile(file: string, _opts: { blob?: boolean } = {}): string {
    const st = fs.statSync(file, { bigint: true });
    const key = statKey(st);
    const entries = this.load();
    const hit = entries.get(key);
    if (hit !== undefined) return hit;
    const name = hashFileUncached(file, Number(st.size));
    this.learn(st, name);
    return name;
  }

  /**
   * Remember `name` for a file seen in state `st` by a reader that got its whole content while the state
   * stayed `st` (stat before and after, all equal), unless the state is too recent to tell a later edit apart.
   */
  learn(st: fs.BigIntStats, name: string): void {
    if (settled(st)) this.remember(statKey(st), name);
  }

  /** Whether two stats of one file name the same state (the hash cache's key). */
  static sameState(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
    return statKey(a) === statKey(b);
  }

  /**
   * Runs `link` (gg's own hard link of `file`: a staged jail root, a run directory) and carries a cached name
   * over to the file's new ctime, when nothing else about it changed. Staging a toolchain into each new jail
   * root otherwise moves the ctime of a few hundred MB of blobs, and every thunk rehashed them all. The one
   * edit this can miss is one within the same ctime tick as the link, by someone who can write the store.
   */
  keepName(file: string, link: () => void): void {
    const before = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    const hit = before && this.load().get(statKey(before));
    link();
    if (!before || hit === undefined) return;
    const after = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    if (
      after &&
      after.dev === before.dev &&
      after.ino === before.ino &&
      after.size === before.size &&
      after.mtimeNs === before.mtimeNs
    )
      this.remember(statKey(after), hit);
  }

  /** Record a file whose content we wrote ourselves and therefore know. */
  rememberFile(file: string, name: string, _opts: { blob?: boolean } = {}): void {
    this.remember(statKey(fs.statSync(file, { bigint: true })), name);
  }

  /** The cached name for this exact file state, without hashing. */
  peek(file: string): string | undefined {
    try {
      return this.nameFor(fs.statSync(file, { bigint: true }));
    } catch {
      return undefined;
    }
  }

  /** The cached name for a state already taken (fstat of an open file). */
  nameFor(st: fs.BigIntStats): string | undefined {
    return this.load().get(statKey(st));
  }

  /** The file's stat and the cached name of exactly that state, if there is one (nothing is hashed). */
  stamped(file: string): { st: fs.BigIntStats; name: string } | undefined {
    const st = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    const name = st && this.nameFor(st);
    return st && name !== undefined ? { st, name } : undefined;
  }

  private remember(key: string, name: string): void {
    this.load().set(key, name);
    this.pending.push(`${key} ${name}\n`);
    if (this.pending.length >= 512) this.flush();
  }

  flush(): void {
    if (!this.logFile || this.pending.length === 0) return;
    try {
      fs.appendFileSync(this.logFile, this.pending.join(''));
    } catch {
      // the cache is an optimisation: losing entries only costs rehashing
    }
    this.pending = [];
  }
}

export function hashFileUncached(file: string, size?: number): string {
  const bytes = size ?? fs.statSync(file).size;
  if (bytes <= SMALL_FILE) return computeName(fs.readFileSync(file));
  const hasher = new NameHasher();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hasher.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hasher.digestName();
}
