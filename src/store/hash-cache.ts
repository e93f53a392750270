/**
 * Remembers the name of a file's content keyed by (device, inode, size, mtime, ctime), so unchanged files are
 * never rehashed (gg's hash cache). Persisted as an append-only log; loaded lazily once per process.
 * A file changed within the last second is not cached: its timestamps may not yet tell a later edit apart.
 */
import fs from 'node:fs';
import { NameHasher, computeName } from '../ir/name.js';

const RECENT_NS = 1_000_000_000n;
const SMALL_FILE = 4 * 1024 * 1024;

/**
 * The key of a file's state. Store blobs are keyed without ctime: hard-linking a blob into a run directory
 * (every use of an input) changes its ctime but not its content; a write to it still changes mtime and size.
 */
function statKey(st: fs.BigIntStats, blob = false): string {
  return blob
    ? `b:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`
    : `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export class HashCache {
  private entries: Map<string, string> | undefined;
  private pending: string[] = [];

  constructor(private readonly logFile: string | undefined) {}

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
  hashFile(file: string, opts: { blob?: boolean } = {}): string {
    const st = fs.statSync(file, { bigint: true });
    const key = statKey(st, opts.blob);
    const entries = this.load();
    const hit = entries.get(key);
    if (hit !== undefined) return hit;
    const name = hashFileUncached(file, Number(st.size));
    const now = BigInt(Date.now()) * 1_000_000n;
    if (now - st.ctimeNs > RECENT_NS && now - st.mtimeNs > RECENT_NS) this.remember(key, name);
    return name;
  }

  /** Record a file whose content we wrote ourselves and therefore know. */
  rememberFile(file: string, name: string, opts: { blob?: boolean } = {}): void {
    this.remember(statKey(fs.statSync(file, { bigint: true }), opts.blob), name);
  }

  /** The cached name for this exact file state, without hashing. */
  peek(file: string): string | undefined {
    try {
      return this.load().get(statKey(fs.statSync(file, { bigint: true })));
    } catch {
      return undefined;
    }
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
