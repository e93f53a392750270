/**
 * The content-addressed cache of a worker (cluster worker, Lambda handler): the .gg layout of a LocalStore
 * (verified reads, atomic adoption, hash cache) plus a size cap with least-recently-used eviction.
 * Objects a running thunk uses are pinned and never evicted under it.
 */
import fs from 'node:fs';
import { GgError } from '../errors.js';
import { isValidName } from '../ir/name.js';
import type { HashCache } from './hash-cache.js';
import { LocalStore } from './local-store.js';
import type { ObjectCache } from './object-cache.js';
import type { PutResult } from './store.js';

export interface WorkerCacheOptions {
  /** Largest total of cached object bytes (pinned objects may exceed it until unpinned). */
  maxBytes: number;
}

export class WorkerCache implements ObjectCache {
  readonly store: LocalStore;
  readonly hashCache: HashCache;
  /** name -> size, in least- to most-recently-used order (a Map keeps insertion order; a use re-inserts). */
  private readonly lru = new Map<string, number>();
  private readonly pins = new Map<string, number>();
  private total = 0;
  evictions = 0;

  constructor(
    readonly dir: string,
    private readonly o: WorkerCacheOptions,
  ) {
    if (!(o.maxBytes > 0))
      throw new GgError('GG_E_USAGE', `cache size must be positive, not ${o.maxBytes}`, {
        hint: 'e.g. --cache-size 20G',
      });
    this.store = new LocalStore(dir);
    this.hashCache = this.store.hashCache;
    // What an earlier run left is kept (a warm cache is the point), oldest access first.
    const found: { name: string; size: number; atime: number }[] = [];
    for (const name of fs.readdirSync(this.store.blobsDir)) {
      if (!isValidName(name)) continue;
      const st = fs.statSync(this.store.blobPath(name), { throwIfNoEntry: false });
      if (st?.isFile()) found.push({ name, size: st.size, atime: st.atimeMs });
    }
    found.sort((a, b) => a.atime - b.atime);
    for (const f of found) this.add(f.name, f.size);
    // A previous crash may have left temp files and run directories.
    for (const t of fs.readdirSync(this.store.tmpDir))
      fs.rmSync(`${this.store.tmpDir}/${t}`, { recursive: true, force: true });
    this.evict();
  }

  get bytes(): number {
    return this.total;
  }

  get count(): number {
    return this.lru.size;
  }

  /** Names currently held (for placement adverts). */
  names(): IterableIterator<string> {
    return this.lru.keys();
  }

  private add(name: string, size: number): void {
    const old = this.lru.get(name);
    if (old !== undefined) {
      this.lru.delete(name);
      this.total -= old;
    }
    this.lru.set(name, size);
    this.total += size;
  }

  private touch(name: string): void {
    const size = this.lru.get(name);
    if (size === undefined) return;
    this.lru.delete(name);
    this.lru.set(name, size);
  }

  hasSync(name: string): boolean {
    if (this.lru.has(name)) return true;
    if (!this.store.hasSync(name)) return false;
    // Adopted by another process sharing the directory: account for it.
    this.add(name, fs.statSync(this.store.blobPath(name)).size);
    return true;
  }

  verifiedBlobPath(name: string): string {
    try {
      const p = this.store.verifiedBlobPath(name);
      // Adopted by another process sharing the directory: account for it.
      if (this.lru.has(name)) this.touch(name);
      else this.add(name, fs.statSync(p).size);
      return p;
    } catch (e) {
      const size = this.lru.get(name);
      if (size !== undefined) {
        this.lru.delete(name);
        this.total -= size;
      }
      throw e;
    }
  }

  ensureExecutable(file: string): void {
    this.store.ensureExecutable(file);
  }

  tempPath(prefix?: string): string {
    return this.store.tempPath(prefix);
  }

  blobPath(name: string): string {
    return this.store.blobPath(name);
  }

  adoptFile(tmpFile: string, knownName?: string): PutResult {
    const r = this.store.adoptFile(tmpFile, knownName);
    this.add(r.name, fs.statSync(this.store.blobPath(r.name)).size);
    this.evict();
    return r;
  }

  pin(names: readonly string[]): void {
    for (const n of names) this.pins.set(n, (this.pins.get(n) ?? 0) + 1);
  }

  unpin(names: readonly string[]): void {
    for (const n of names) {
      const c = (this.pins.get(n) ?? 1) - 1;
      if (c <= 0) this.pins.delete(n);
      else this.pins.set(n, c);
    }
    this.evict();
  }

  /** Drop least-recently-used unpinned objects until the total fits. */
  private evict(): void {
    if (this.total <= this.o.maxBytes) return;
    for (const [name, size] of this.lru) {
      if (this.total <= this.o.maxBytes) break;
      if (this.pins.has(name)) continue;
      fs.rmSync(this.store.blobPath(name), { force: true });
      this.lru.delete(name);
      this.total -= size;
      this.evictions++;
    }
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
