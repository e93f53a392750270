/** Reading the registry of workers (`gg workers`): who is alive, with what, doing how much. */
import { Redis } from 'ioredis';
import { DEAD_AFTER_MS, WORKERS_KEY, parseWorkerInfo, workerKey, type WorkerInfo } from './protocol.js';
import { clusterConnection, connectError } from './redis-connection.js';

export interface WorkerList {
  live: WorkerInfo[];
  /** Registered workers whose heartbeat stopped (killed, frozen, cut off). */
  silent: WorkerInfo[];
}

export async function listWorkers(queueUri: string): Promise<WorkerList> {
  const conn = clusterConnection(queueUri);
  const redis = new Redis({ ...conn, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  let why: unknown;
  redis.on('error', (e) => (why ??= e));
  try {
    try {
      await redis.connect();
    } catch (e) {
      throw connectError(conn, why ?? e);
    }
    const now = Date.now();
    const all = await redis.zrange(WORKERS_KEY, '0', '-1', 'WITHSCORES');
    const out: WorkerList = { live: [], silent: [] };
    for (let i = 0; i + 1 < all.length; i += 2) {
      const id = all[i]!;
      const hb = Number(all[i + 1]);
      const fields = await redis.hgetall(workerKey(id));
      const info = parseWorkerInfo(id, fields, hb);
      if (!info) continue;
      if (now - hb <= DEAD_AFTER_MS) out.live.push(info);
      else if (Object.keys(fields).length > 0) out.silent.push(info);
      else await redis.zrem(WORKERS_KEY, id); // long gone: its details expired
    }
    return out;
  } finally {
    redis.disconnect();
  }
}
