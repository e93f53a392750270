/**
 * The bulk upload before forcing: ask the remote which objects it lacks (batched existence checks, asked fresh
 * every time: no remembered "already uploaded" list that could go stale), then send only those, a bounded number
 * at a time, reporting objects and bytes as they go.
 */
import { GgError, isGgError } from '../errors.js';
import { assertName, nameSize } from '../ir/name.js';
import { chunked, mapConcurrent } from './concurrency.js';
import type { LocalStore } from './local-store.js';
import type { Store } from './store.js';

export interface UploadProgress {
  /** Existence checks answered so far, of `objectsTotal` distinct names. */
  objectsChecked: number;
  objectsTotal: number;
  /** What the remote lacked (known once checking is over) and how much of it has been sent. */
  objectsMissing: number;
  objectsUploaded: number;
  bytesMissing: number;
  bytesUploaded: number;
}

export interface UploadOptions {
  /** Uploads in flight (default 16). */
  concurrency?: number;
  /** Names per existence-check batch (default 1,000). */
  batchSize?: number;
  onProgress?: (p: UploadProgress) => void;
}

export interface UploadReport extends UploadProgress {
  seconds: number;
}

/** Objects up to this size are read whole and sent in one request; larger ones stream from the blob file. */
const SMALL_OBJECT = 1024 * 1024;
const ATTEMPTS = 3;

export async function uploadMissing(
  names: readonly string[],
  local: LocalStore,
  remote: Store,
  opts: UploadOptions = {},
): Promise<UploadReport> {
  const started = performance.now();
  const unique = [...new Set(names)];
  for (const n of unique) assertName(n);
  const progress: UploadProgress = {
    objectsChecked: 0,
    objectsTotal: unique.length,
    objectsMissing: 0,
    objectsUploaded: 0,
    bytesMissing: 0,
    bytesUploaded: 0,
  };
  const report = (): void => opts.onProgress?.({ ...progress });
  report();

  const missing: string[] = [];
  await mapConcurrent(chunked(unique, opts.batchSize ?? 1000), 4, async (batch) => {
    const present = await withRetries(() => remote.hasMany(batch));
    batch.forEach((n, i) => {
      if (!present[i]) missing.push(n);
    });
    progress.objectsChecked += batch.length;
    report();
  });

  const notLocal = missing.filter((n) => !local.hasSync(n));
  if (notLocal.length > 0) {
    throw new GgError(
      'GG_E_OBJECT_MISSING',
      `${notLocal.length} object(s) are neither in ${remote.description} nor in ${local.description}, e.g. ${notLocal.slice(0, 3).join(', ')}`,
      { hint: 'collect the files again (gg collect) or re-create the thunks that need them' },
    );
  }
  progress.objectsMissing = missing.length;
  progress.bytesMissing = missing.reduce((sum, n) => sum + nameSize(n), 0);
  report();

  // Large objects first: they dominate the time, and small ones then fill the gaps at the end.
  missing.sort((a, b) => nameSize(b) - nameSize(a));
  await mapConcurrent(missing, opts.concurrency ?? 16, async (name) => {
    await withRetries(() =>
      nameSize(name) <= SMALL_OBJECT ? remote.put(local.getSync(name)) : remote.putFile(local.blobPath(name), name),
    );
    progress.objectsUploaded++;
    progress.bytesUploaded += nameSize(name);
    report();
  });
  return { ...progress, seconds: (performance.now() - started) / 1000 };
}

/** Infrastructure hiccups (GG_E_STORAGE_IO) are retried a few times with a short backoff; nothing else is. */
async function withRetries<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (attempt >= ATTEMPTS || !isGgError(e) || !e.retryable || e.code !== 'GG_E_STORAGE_IO') throw e;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
