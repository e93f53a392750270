/** Connection settings for the cluster's Redis (queue, registry, results), from a redis:// or rediss:// URI. */
import net from 'node:net';
import { GgError } from '../../errors.js';
import { parseRedisUri } from '../../store/redis-store.js';
import { trustExtraCaCerts } from '../../store/tls-trust.js';

export interface ClusterConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: { servername?: string };
  /** BullMQ's blocking connections must never give up a command (they wait out a Redis restart). */
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
  connectTimeout: number;
  socketTimeout: number;
}

/** Reconnect forever, backing off to 2 s: a Redis restart or a cut link is waited out, not fatal. */
export function clusterConnection(uri: string): ClusterConnection {
  const r = parseRedisUri(uri);
  if (r.tls) trustExtraCaCerts(); // NODE_EXTRA_CA_CERTS for BullMQ's connections
  return {
    host: r.host,
    port: r.port,
    db: r.db,
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.password !== undefined ? { password: r.password } : {}),
    ...(r.tls ? { tls: net.isIP(r.host) ? {} : { servername: r.host } } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    connectTimeout: 3000,
    // A reply overdue this long means a dead connection nobody closed (a cut link while Redis restarted:
    // its FIN never arrived): drop it and reconnect. Longer than any blocking wait (BullMQ's is <= 5 s).
    socketTimeout: 15_000,
  };
}

/** A failed first connection to the cluster's Redis, as a clear error: refused credentials apart from the rest. */
export function connectError(conn: ClusterConnection, e: unknown): GgError {
  const msg = (e as Error)?.message ?? String(e);
  const where = `the cluster's Redis at ${conn.host}:${conn.port}`;
  if (/WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username-password/i.test(msg)) {
    return new GgError('GG_E_STORAGE_AUTH', `${where} refused us: ${msg}`, {
      hint: 'give the password (and ACL user) in the URI: redis://[USER]:PASSWORD@host:port',
      cause: e,
    });
  }
  return new GgError('GG_E_STORAGE_UNREACHABLE', `cannot reach ${where}: ${msg}`, {
    hint: 'check --engine cluster=redis://[user:pass@]host:port (or --storage / --queue) and that the server is reachable',
    cause: e,
  });
}
