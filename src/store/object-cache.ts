/**
 * Where an engine keeps the objects a thunk runs with: a directory of verified, content-addressed files on the
 * machine that runs the thunk. The local .gg store is one (the local engine), a size-capped LRU cache is
 * another (cluster workers, the Lambda handler). Engines depend on this, never on a concrete store.
 */
import type { HashCache } from './hash-cache.js';
import type { PutResult } from './store.js';

export interface ObjectCache {
  /** Remembers blob hashes by stat key (also used by the unsandboxed runner). */
  readonly hashCache: HashCache;
  hasSync(name: string): boolean;
  /** Host path of the object, checked against its name (throws GG_E_OBJECT_MISSING / GG_E_OBJECT_CORRUPT). */
  verifiedBlobPath(name: string): string;
  /** Give a blob used as a program its execute bits. */
  ensureExecutable(file: string): void;
  /** A fresh path on the cache's file system (a rename moves it into place). */
  tempPath(prefix?: string): string;
  /** Move a finished file into the cache under its (given, or computed) name. */
  adoptFile(tmpFile: string, knownName?: string): PutResult;
  /** Path of a blob in the cache (not verified: for uploads that verify on the way). */
  blobPath(name: string): string;
  /** Keep these objects from eviction while a thunk uses them (caches that evict). */
  pin?(names: readonly string[]): void;
  unpin?(names: readonly string[]): void;
}
