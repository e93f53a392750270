/** Connection settings for the cluster's Redis (queue, registry, results), from a redis:// or rediss:// URI. */
import { parseRedisUri } from '../../store/redis-store.js';

export interface ClusterConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: { servername: string };
  /** BullMQ's blocking connections must never give up a command (they wait out a Redis restart). */
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
  connectTimeout: number;
}

/** Reconnect forever, backing off to 2 s: a Redis restart or a cut link is waited out, not fatal. */
export function clusterConnection(uri: string): ClusterConnection {
  const r = parseRedisUri(uri);
  return {
    host: r.host,
    port: r.port,
    db: r.db,
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.password !== undefined ? { password: r.password } : {}),
    ...(r.tls ? { tls: { servername: r.host } } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    connectTimeout: 3000,
  };
}
