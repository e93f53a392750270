/**
 * What a failed Redis connection or command means to the user: a GgError with a stable code (auth, unknown
 * database, unreachable, not Redis at all) and a hint, from ioredis's and the server's error messages.
 */
import { GgError } from '../errors.js';

/** The facts about the store an error message names. */
export interface RedisErrorContext {
  /** The store as shown to the user (password redacted). */
  description: string;
  host: string;
  port: number;
  db: number;
  hasPassword: boolean;
  connectTimeoutMs: number;
}

/** A read-only replica refuses the configuration check's write. */
export function readOnlyReplica(description: string, e: Error): GgError {
  return new GgError('GG_E_STORAGE_AUTH', `${description} is a read-only replica: ${e.message}`, {
    hint: 'point the storage URI at the primary Redis server',
    cause: e,
  });
}

export function classifyRedisError(e: Error, at: RedisErrorContext): GgError {
  const msg = e.message;
  const code = (e as NodeJS.ErrnoException).code;
  if (/WRONGPASS|NOAUTH|invalid password|AUTH.*(failed|without any password|called without)/i.test(msg)) {
    const how = !at.hasPassword ? 'no password was given' : 'the user name or password was rejected';
    return new GgError('GG_E_STORAGE_AUTH', `${at.description} refused us: ${how} (${msg})`, {
      hint: 'put the password in the URI: redis://:PASSWORD@host:port (or redis://USER:PASSWORD@host:port for an ACL user)',
      cause: e,
    });
  }
  if (/DB index is out of range|invalid DB index/i.test(msg)) {
    return new GgError('GG_E_STORAGE_URI', `${at.description}: the server has no database ${at.db} (${msg})`, {
      hint: "use a database number the server has (redis.conf 'databases', 16 by default: 0-15)",
      cause: e,
    });
  }
  if (/NOPERM/i.test(msg)) {
    return new GgError('GG_E_STORAGE_AUTH', `${at.description}: ${msg}`, {
      hint: 'check the database number and the ACL permissions of the user in the URI',
      cause: e,
    });
  }
  const where = `${at.host}:${at.port}`;
  let detail = msg;
  if (code === 'ECONNREFUSED') detail = 'connection refused (nothing listens on that port)';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') detail = `host '${at.host}' not found`;
  else if (code === 'ETIMEDOUT' || /timeout/i.test(msg))
    detail = /connected, but/.test(msg)
      ? `${msg} (is it a Redis server?)`
      : `no answer within ${at.connectTimeoutMs} ms`;
  else if (/Unknown RESP type|Protocol error/i.test(msg)) detail = `what answers there does not speak Redis (${msg})`;
  return new GgError('GG_E_STORAGE_UNREACHABLE', `cannot reach Redis at ${where}: ${detail}`, {
    hint: 'check the host and port in the storage URI (or GG_STORAGE_URI) and that redis-server is running and reachable from here',
    retryable: true,
    cause: e,
  });
}
