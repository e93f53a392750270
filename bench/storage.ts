/**
 * Remote storage throughput, side by side with the raw client libraries doing the same operations:
 *  - 2,000 objects of 4 KiB and 8 objects of 64 MiB, put then get, on Redis (vs an ioredis pipeline of SET/GET)
 *    and on S3 (vs SDK PutObject/GetObject at the same concurrency);
 *  - the same 64 MiB objects file-to-file (putFile/getToFile, streamed and verified) vs reading the file and
 *    sending it whole with the raw client (and the reverse); on S3 both as one streamed PUT and as multipart;
 *  - existence checks: hasMany on 100,000 names (Redis) vs a raw pipeline of EXISTS; 2,000 names on S3.
 * Servers (redis-server, s3rver) are started on ephemeral ports for the run. Each figure is the median of 3 runs.
 * Usage: node dist/bench/storage.js [--runs N] [--small N] [--large N] [--only redis|s3]
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { computeName } from '../src/ir/name.js';
import { mapConcurrent } from '../src/store/concurrency.js';
import { RedisStore } from '../src/store/redis-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { startRedis, startS3, useS3Credentials } from '../test/helpers/servers.js';

const arg = (flag: string, dflt: number): number => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 3);
const ONLY = ((): string => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? (process.argv[i + 1] ?? '') : '';
})();
const SMALL_N = arg('--small', 2000);
const LARGE_N = arg('--large', 8);
const SMALL = 4 * 1024;
const LARGE = 64 * 1024 * 1024;
const S3_CONCURRENCY = 64;
const HAS_N = 100_000;

interface Row {
  backend: string;
  what: string;
  unit: string;
  ours: number;
  raw: number;
}
const rows: Row[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * Median seconds of `runs` runs each of `ours` and `raw`, interleaved (ours, raw, ours, ...) after one untimed
 * warm-up of each, every run after `reset`: neither side gets the cold JIT or a quieter moment of the machine.
 */
async function compare(
  reset: () => Promise<void>,
  ours: () => Promise<void>,
  raw: () => Promise<void>,
  runs = RUNS,
): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []];
  for (let i = -1; i < runs; i++) {
    for (const [k, op] of [ours, raw].entries()) {
      await reset();
      const t0 = performance.now();
      await op();
      if (i >= 0) (times[k] as number[]).push((performance.now() - t0) / 1000);
    }
  }
  return [median(times[0]), median(times[1])];
}

async function row(
  backend: string,
  what: string,
  unit: 'MB/s' | 'obj/s' | 'names/s',
  amount: number,
  reset: () => Promise<void>,
  ours: () => Promise<void>,
  raw: () => Promise<void>,
  runs = RUNS,
): Promise<void> {
  const [o, r] = await compare(reset, ours, raw, runs);
  rows.push({ backend, what, unit, ours: amount / o, raw: amount / r });
  process.stderr.write(`  ${backend} ${what}: ${(amount / o).toFixed(0)} vs ${(amount / r).toFixed(0)} ${unit}\n`);
}

const MB = 1e6;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bench-storage-'));

async function main(): Promise<void> {
  const small = Array.from({ length: SMALL_N }, () => randomBytes(SMALL));
  const smallNames = small.map(computeName);
  const large = Array.from({ length: LARGE_N }, () => randomBytes(LARGE));
  const largeNames = large.map(computeName);
  const largeFiles = large.map((buf, i) => {
    const f = path.join(tmp, `large-${i}`);
    fs.writeFileSync(f, buf);
    return f;
  });
  const largeMB = (LARGE_N * LARGE) / MB;
  const out = (i: number): string => path.join(tmp, `out-${i}`);
  const smallRuns = Math.max(RUNS, 15); // small batches take ~0.1 s: more runs to tame the noise

  if (ONLY === '' || ONLY === 'redis') {
    process.stderr.write('redis...\n');
    const redis = await startRedis();
    const store = RedisStore.fromUri(redis.uri);
    await store.check();
    // the raw baseline uses the same client settings as the store (RESP2), minus the store's logic
    const raw = new Redis({ host: redis.host, port: redis.port, protocol: 2 });
    const flush = async (): Promise<void> => void (await raw.flushall());
    const fillSmall = async (): Promise<void> => {
      await flush();
      const p = raw.pipeline();
      small.forEach((b, i) => p.set(smallNames[i] as string, b));
      await p.exec();
    };
    const fillLarge = async (): Promise<void> => {
      await flush();
      for (const [i, b] of large.entries()) await raw.set(largeNames[i] as string, b);
    };
    const rawSetAll = async (): Promise<void> => {
      const p = raw.pipeline();
      small.forEach((b, i) => p.set(smallNames[i] as string, b));
      await p.exec();
    };
    const rawGetAll = async (): Promise<void> => {
      const p = raw.pipeline();
      for (const n of smallNames) p.getBuffer(n);
      await p.exec();
    };
    try {
      await row(
        'redis',
        `put ${SMALL_N} x 4 KiB`,
        'obj/s',
        SMALL_N,
        flush,
        async () => void (await Promise.all(small.map((b) => store.put(b)))),
        rawSetAll,
        smallRuns,
      );
      await row(
        'redis',
        `get ${SMALL_N} x 4 KiB`,
        'obj/s',
        SMALL_N,
        fillSmall,
        async () => void (await Promise.all(smallNames.map((n) => store.get(n)))),
        rawGetAll,
        smallRuns,
      );
      await row(
        'redis',
        `put ${LARGE_N} x 64 MiB (in memory)`,
        'MB/s',
        largeMB,
        flush,
        async () => {
          for (const b of large) await store.put(b);
        },
        async () => {
          for (const [i, b] of large.entries()) await raw.set(largeNames[i] as string, b);
        },
      );
      await row(
        'redis',
        `get ${LARGE_N} x 64 MiB (in memory)`,
        'MB/s',
        largeMB,
        fillLarge,
        async () => {
          for (const n of largeNames) await store.get(n);
        },
        async () => {
          for (const n of largeNames) await raw.getBuffer(n);
        },
      );
      await row(
        'redis',
        `putFile ${LARGE_N} x 64 MiB (streamed)`,
        'MB/s',
        largeMB,
        flush,
        async () => {
          for (const [i, f] of largeFiles.entries()) await store.putFile(f, largeNames[i]);
        },
        async () => {
          for (const [i, f] of largeFiles.entries()) await raw.set(largeNames[i] as string, fs.readFileSync(f));
        },
      );
      await row(
        'redis',
        `getToFile ${LARGE_N} x 64 MiB (streamed)`,
        'MB/s',
        largeMB,
        fillLarge,
        async () => {
          for (const [i, n] of largeNames.entries()) await store.getToFile(n, out(i));
        },
        async () => {
          for (const [i, n] of largeNames.entries()) fs.writeFileSync(out(i), (await raw.getBuffer(n)) as Buffer);
        },
      );
      const names = Array.from({ length: HAS_N }, (_, i) => computeName(Buffer.from(`bench name ${i}`)));
      await row(
        'redis',
        `hasMany ${HAS_N} names (10% present)`,
        'names/s',
        HAS_N,
        async () => {
          await flush();
          const p = raw.pipeline();
          for (let i = 0; i < HAS_N; i += 10) p.set(names[i] as string, '');
          await p.exec();
        },
        async () => void (await store.hasMany(names)),
        async () => {
          const p = raw.pipeline();
          for (const n of names) p.exists(n);
          await p.exec();
        },
      );
    } finally {
      await store.close();
      raw.disconnect();
      await redis.stop();
    }
  }

  if (ONLY === '' || ONLY === 's3') {
    process.stderr.write('s3 (s3rver)...\n');
    useS3Credentials();
    const s3 = await startS3();
    const s3store = S3Store.fromUri(s3.uri, { concurrency: S3_CONCURRENCY });
    await s3store.check();
    // the same store forced to multipart at this size (the default sends objects up to 64 MiB in one PUT)
    const s3multipart = S3Store.fromUri(s3.uri, { multipartAboveBytes: 8 * 1024 * 1024 });
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { httpAgent: { keepAlive: true, maxSockets: S3_CONCURRENCY } },
    });
    const Bucket = s3.bucket;
    const rawPut = (Key: string, Body: Buffer): Promise<unknown> =>
      client.send(new PutObjectCommand({ Bucket, Key, Body, ContentLength: Body.length }));
    const rawGet = async (Key: string): Promise<Buffer> => {
      const r = await client.send(new GetObjectCommand({ Bucket, Key }));
      return Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    };
    const empty = async (): Promise<void> => {
      for (;;) {
        const page = await client.send(new ListObjectsV2Command({ Bucket }));
        const keys = (page.Contents ?? []).map((o) => o.Key as string);
        if (keys.length === 0) return;
        await mapConcurrent(keys, 8, (Key) => client.send(new DeleteObjectCommand({ Bucket, Key })));
      }
    };
    const fillSmall = async (): Promise<void> => {
      await empty();
      await mapConcurrent(small, S3_CONCURRENCY, (b, i) => rawPut(smallNames[i] as string, b));
    };
    const fillLarge = async (): Promise<void> => {
      await empty();
      for (const [i, b] of large.entries()) await rawPut(largeNames[i] as string, b);
    };
    try {
      await row(
        's3',
        `put ${SMALL_N} x 4 KiB`,
        'obj/s',
        SMALL_N,
        empty,
        async () => void (await mapConcurrent(small, S3_CONCURRENCY, (b) => s3store.put(b))),
        async () => void (await mapConcurrent(small, S3_CONCURRENCY, (b, i) => rawPut(smallNames[i] as string, b))),
      );
      await row(
        's3',
        `get ${SMALL_N} x 4 KiB`,
        'obj/s',
        SMALL_N,
        fillSmall,
        async () => void (await mapConcurrent(smallNames, S3_CONCURRENCY, (n) => s3store.get(n))),
        async () => void (await mapConcurrent(smallNames, S3_CONCURRENCY, (n) => rawGet(n))),
      );
      await row(
        's3',
        `put ${LARGE_N} x 64 MiB (in memory)`,
        'MB/s',
        largeMB,
        empty,
        async () => {
          for (const b of large) await s3store.put(b);
        },
        async () => {
          for (const [i, b] of large.entries()) await rawPut(largeNames[i] as string, b);
        },
      );
      await row(
        's3',
        `get ${LARGE_N} x 64 MiB (in memory)`,
        'MB/s',
        largeMB,
        fillLarge,
        async () => {
          for (const n of largeNames) await s3store.get(n);
        },
        async () => {
          for (const n of largeNames) await rawGet(n);
        },
      );
      await row(
        's3',
        `putFile ${LARGE_N} x 64 MiB (one streamed PUT)`,
        'MB/s',
        largeMB,
        empty,
        async () => {
          for (const [i, f] of largeFiles.entries()) await s3store.putFile(f, largeNames[i]);
        },
        async () => {
          for (const [i, f] of largeFiles.entries()) await rawPut(largeNames[i] as string, fs.readFileSync(f));
        },
      );
      await row(
        's3',
        `putFile ${LARGE_N} x 64 MiB (multipart: 8 MiB parts, 4 in flight)`,
        'MB/s',
        largeMB,
        empty,
        async () => {
          for (const [i, f] of largeFiles.entries()) await s3multipart.putFile(f, largeNames[i]);
        },
        async () => {
          for (const [i, f] of largeFiles.entries()) await rawPut(largeNames[i] as string, fs.readFileSync(f));
        },
      );
      await row(
        's3',
        `getToFile ${LARGE_N} x 64 MiB (streamed)`,
        'MB/s',
        largeMB,
        fillLarge,
        async () => {
          for (const [i, n] of largeNames.entries()) await s3store.getToFile(n, out(i));
        },
        async () => {
          for (const [i, n] of largeNames.entries()) fs.writeFileSync(out(i), await rawGet(n));
        },
      );
      await row(
        's3',
        `hasMany ${SMALL_N} names (vs HeadObject each)`,
        'names/s',
        SMALL_N,
        fillSmall,
        async () => void (await s3store.hasMany(smallNames)),
        async () =>
          void (await mapConcurrent(smallNames, S3_CONCURRENCY, (Key) =>
            client.send(new HeadObjectCommand({ Bucket, Key })),
          )),
      );
    } finally {
      await s3store.close();
      await s3multipart.close();
      client.destroy();
      await s3.stop();
    }
  }

  printTable();
}

function printTable(): void {
  const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const lines = [
    `| backend | operation | unit | gg-ts | raw client | gg-ts / raw |`,
    `|---|---|---|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.what} | ${r.unit} | ${fmt(r.ours)} | ${fmt(r.raw)} | ${((r.ours / r.raw) * 100).toFixed(0)}% |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(
    `\n(${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}; servers on 127.0.0.1; median of ${RUNS} runs (small objects: more), ours and raw interleaved)\n`,
  );
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
