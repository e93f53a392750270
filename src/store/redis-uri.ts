/** Where a Redis store is: `redis://[user:pass@]host:port[/db]` or `rediss://` (TLS), parsed and checked. */
import { GgError } from '../errors.js';

/** What a storage URI says about a Redis server. */
export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
}

/** `redis://[user:pass@]host:port[/db]` or `rediss://...` (TLS). */
export function parseRedisUri(uri: string): RedisAddress {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw badRedisUri(uri, 'it is not a URI');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw badRedisUri(uri, `the scheme is not redis:// or rediss://`);
  if (!url.hostname) throw badRedisUri(uri, 'the host is missing');
  const port = url.port ? Number(url.port) : 6379;
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw badRedisUri(uri, `the database '${dbText}' is not a number`);
  if (dbText !== '' && (dbText.length > 10 || Number(dbText) > 2 ** 31 - 1))
    throw badRedisUri(uri, `the database number ${dbText} is out of range`);
  if (url.search !== '') throw badRedisUri(uri, 'query parameters are not supported');
  const opts: RedisAddress = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    tls: url.protocol === 'rediss:',
  };
  try {
    if (url.username) opts.username = decodeURIComponent(url.username);
    if (url.password) opts.password = decodeURIComponent(url.password);
  } catch {
    throw badRedisUri(uri, 'the user name or password is not valid %-encoding');
  }
  return opts;
}

function badRedisUri(uri: string, why: string): GgError {
  return new GgError('GG_E_STORAGE_URI', `bad Redis storage URI '${redactUri(uri)}': ${why}`, {
    hint: 'use redis://[user:password@]host:port[/db] (or rediss:// for TLS), e.g. redis://:secret@10.0.0.5:6379/0',
  });
}

/** URIs end up in messages and logs: never print a password. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}
