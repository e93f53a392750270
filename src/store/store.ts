/**
 * The storage contract every backend (local .gg/, Redis, S3) implements. Objects are keyed by name and are
 * immutable; every read is verified against the name (a mismatch is GG_E_OBJECT_CORRUPT and the bad copy is
 * dropped, never returned). Reductions (the memo: thunk ref -> result name) live in the same backend, so a
 * shared backend is a shared cache.
 */
import type { Readable } from 'node:stream';

export interface PutResult {
  name: string;
  /** False when the store already held the object (nothing was written). */
  written: boolean;
}

export interface Store {
  /** Human-readable location, for messages ("local /x/.gg", "redis://host:6379/0"). */
  readonly description: string;

  has(name: string): Promise<boolean>;
  /** Batched existence check: one round trip per batch on remote backends. */
  hasMany(names: readonly string[]): Promise<boolean[]>;

  /** Whole object in memory, verified. Throws GG_E_OBJECT_MISSING / GG_E_OBJECT_CORRUPT. */
  get(name: string): Promise<Buffer>;
  /**
   * Stream the object into `dest` (temp + verify + rename), never buffering it whole; with `mode`, the temp file
   * gets that mode before the rename, so `dest` never shows another one (an output put where its placeholder was).
   */
  getToFile(name: string, dest: string, mode?: number): Promise<void>;

  /** Store bytes; the name is computed here. */
  put(data: Buffer): Promise<PutResult>;
  /** Store a file by streaming it; `name` may be given when already known (it is still verified). */
  putFile(file: string, name?: string): Promise<PutResult>;
  /** Streamed upload of a known-size object, verified against `name` before it becomes visible. */
  putStream?(name: string, body: Readable): Promise<PutResult>;

  /** Memo: the name a thunk reference (`T...` or `T...#tag`) reduced to, if known. */
  getReduction(ref: string): Promise<string | undefined>;
  getReductions(refs: readonly string[]): Promise<(string | undefined)[]>;
  putReduction(ref: string, result: string): Promise<void>;
  /** Several memo entries at once (a thunk's outputs under its names); stores may write them more cheaply. */
  putReductions?(entries: readonly (readonly [ref: string, result: string])[]): Promise<void>;
  /** Drop a memo entry found bad (a cycle): stores that cannot (read-only) simply keep it. */
  deleteReduction?(ref: string): Promise<void>;
  /**
   * Record a thunk's entries unless it already has some, and return what is recorded, in order: the first
   * writer wins. Stores that several workers write at once implement it, so two runs of one thunk (a
   * speculative duplicate, a frozen worker that woke up) never leave two answers. Values are stored and
   * returned as they are (a memo signature included: memo-signer.ts); undefined for a recorded value that is
   * not a memo value at all (garbage: the caller replaces it). `objects` (small results, named by their bytes)
   * are stored first in the same step: one round trip for a thunk's upload and memo.
   */
  claimReductions?(
    entries: readonly (readonly [ref: string, result: string])[],
    objects?: readonly Buffer[],
    notice?: ClaimNotice,
  ): Promise<Claim>;
  /**
   * Entries whoever ran the thunk already recorded in this store (a cluster worker, through claimReductions),
   * so they are not written again. `signed`: they carry a memo signature (a store that signs records its own
   * over unsigned ones). A store without this method needs nothing done.
   */
  noteReductions?(entries: readonly (readonly [ref: string, result: string])[], signed: boolean): Promise<void>;

  close(): Promise<void>;
}

/** What claimReductions recorded. */
export interface Claim {
  /** The recorded values, in order (see claimReductions). */
  recorded: (string | undefined)[];
  /** Bytes of `objects` this claim stored (the others were there already). */
  bytesWritten: number;
  /** The notice went out: every entry was this claim's own. */
  notified: boolean;
}

/**
 * A message published on a channel in the claim's own step when every entry recorded is the claimant's (its
 * result is the result): a cluster worker's outcome reaches its client one round trip sooner. Only stores that
 * are Redis. In the message, NOTICE_WRITTEN (the quotes included) becomes `writtenBase` + the claim's bytesWritten.
 */
export interface ClaimNotice {
  channel: string;
  message: string;
  writtenBase: number;
}
export const NOTICE_WRITTEN = '"@written@"';

/** A thunk's memo entries in one step where the store can (putReductions), else one at a time, in order. */
export async function putAllReductions(
  store: Store,
  entries: readonly (readonly [ref: string, result: string])[],
): Promise<void> {
  if (store.putReductions) await store.putReductions(entries);
  else for (const [ref, result] of entries) await store.putReduction(ref, result);
}

/**
 * What the remote backends (Redis, S3) add to the Store contract (implemented in remote-store.ts and the stores;
 * declared here so that telling a remote store apart does not load their stream code).
 */
export interface RemoteStore extends Store {
  readonly kind: 'redis' | 's3';
  /** Connect and prove the configuration works (reachable, authenticated, bucket present); GG_E_STORAGE_* if not. */
  check(o?: { readOnly?: boolean }): Promise<void>;
  /** Remove an object (a corrupt copy; tests). Missing objects are not an error. */
  delete(name: string): Promise<void>;
  /** Drop a memo entry (a cycle found by the scheduler). */
  deleteReduction(ref: string): Promise<void>;
}

export function isRemoteStore(store: Store): store is RemoteStore {
  return (
    typeof (store as Partial<RemoteStore>).check === 'function' &&
    typeof (store as Partial<RemoteStore>).delete === 'function'
  );
}
