/**
 * From a storage URI (`--storage`, or GG_STORAGE_URI read by the caller) to a Store, checked before any work:
 *   (none) | local                       the local .gg store alone
 *   redis://[user:pass@]host:port[/db]   Redis (rediss:// for TLS)
 *   s3://bucket[/prefix]?region=R&endpoint=URL   S3 or any S3-compatible service
 *   gs://bucket[/prefix]                 Google Cloud Storage through its S3-compatible API (HMAC keys)
 * A remote store is always used through a TieredStore: the local .gg is its cache.
 */
import { GgError } from '../errors.js';
import type { LocalStore } from './local-store.js';
import { isRemoteStore, type RemoteStore, type Store } from './store.js';
import { MemoSigner } from './memo-signer.js';
import { TieredStore } from './tiered-store.js';

export interface OpenStoreOptions {
  /** Run `checkStore` before returning (default true): bad configuration fails here, before any work. */
  check?: boolean;
  /** Key for signed memo entries (memo-signer.ts). */
  memoKey?: Buffer;
  /** Never write to the remote store. */
  readOnly?: boolean;
}

/**
 * The remote part alone (workers that have no use for a local cache, tests, benchmarks). Not yet checked.
 * Each backend's client library is loaded only when used: the AWS SDK and ioredis each cost ~20 MiB and
 * noticeable start-up time.
 */
export async function openRemoteStore(uri: string): Promise<RemoteStore> {
  const scheme = /^([a-z0-9+.-]+):/i.exec(uri)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'redis':
    case 'rediss': {
      const { RedisStore, parseRedisUri } = await import('./redis-store.js');
      return new RedisStore(parseRedisUri(uri));
    }
    case 's3':
    case 'gs': {
      const { S3Store, parseS3Uri } = await import('./s3-store.js');
      return new S3Store(parseS3Uri(uri));
    }
    default:
      throw new GgError(
        'GG_E_STORAGE_URI',
        `unsupported storage URI '${uri.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')}'`,
        {
          hint: 'use redis://[user:pass@]host:port[/db], rediss://..., s3://bucket[/prefix]?region=..., gs://bucket, or leave it unset for the local .gg store',
        },
      );
  }
}

export async function openStore(
  uri: string | undefined,
  local: LocalStore,
  opts: OpenStoreOptions = {},
): Promise<Store> {
  const trimmed = uri?.trim() ?? '';
  if (trimmed === '' || trimmed === 'local') return local;
  const remote = await openRemoteStore(trimmed);
  if (opts.check ?? true) {
    try {
      await remote.check({ readOnly: opts.readOnly ?? false });
    } catch (e) {
      await remote.close().catch(() => undefined);
      throw e;
    }
  }
  return new TieredStore(local, remote, { signer: new MemoSigner(opts.memoKey), readOnly: opts.readOnly ?? false });
}

/** Fail fast, with a GG_E_STORAGE_* code and a hint, if the store's backend cannot be used. */
export async function checkStore(store: Store): Promise<void> {
  if (store instanceof TieredStore) return checkStore(store.remote);
  if (isRemoteStore(store)) await store.check();
}
