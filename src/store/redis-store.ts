/**
 * Objects and reductions in Redis, over ioredis.
 *
 * Key layout (docs/STORAGE.md):
 *   NAME                  the object's bytes (a plain string, keyed by the name itself, as gg does)
 *   reduction:REF         the name REF (`T...` or `T...#tag`) reduced to
 *
 * Small objects are one `SET NX` through ioredis (the name was computed from the bytes in hand, so the write is
 * verified and atomic). Large objects stream over a connection of their own (redis-stream-connection.ts): the
 * upload's final bytes are held back until the content hashed to its name, so a bad upload never lands; the
 * download goes to a temp file renamed only once verified. Nothing holds a large object whole, in our process or
 * under a temp key. A copy that does not match its name is deleted and reported as GG_E_OBJECT_CORRUPT.
 * Limits: one Redis string holds at most 512 MiB (proto-max-bulk-len); Redis Cluster is not supported.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { Redis, type RedisOptions } from 'ioredis';
import { GgError, fromSystemError } from '../errors.js';
import { NameHasher, assertName, computeName, nameSize } from '../ir/name.js';
import { chunked, mapConcurrent } from './concurrency.js';
import { classifyRedisError, readOnlyReplica } from './redis-errors.js';
import { parseRedisUri, redactUri, type RedisAddress } from './redis-uri.js';
import { trustExtraCaCerts } from './tls-trust.js';
import { TickBatcher } from './tick-batcher.js';
import { RedisReplyError, RedisStreamConnection, encodeCommand, type BulkConsumer } from './redis-stream-connection.js';
import type { Claim, ClaimNotice, PutResult } from './store.js';
import {
  assertEntries,
  assertRef,
  corruptObject,
  missingObject,
  assertMemoValue,
  parseReduction,
  storageIoError,
  type RemoteStore,
  putFileVia,
} from './remote-store.js';

// Importers of the URI parsing through the store (the cluster engine, tests) keep working.
export { parseRedisUri, redactUri };

export const REDUCTION_PREFIX = 'reduction:';
/**
 * All of a thunk's entries, or (if any is there already) only the missing ones; returns the bytes of objects it
 * stored, whether it published the notice, then what is recorded. KEYS: n memo keys, k object names; ARGV: n, k,
 * the n memo values, the k objects, then (if there is a notice) its channel, written base and message. The
 * objects (a thunk's small outputs) are stored first, in the same step: an error stops the script before any
 * memo entry is written. The notice goes out only when every entry is the caller's.
 */
const CLAIM_REDUCTIONS = `
local n, k = tonumber(ARGV[1]), tonumber(ARGV[2])
local written = 0
for i = 1, k do
  if redis.call('SET', KEYS[n + i], ARGV[2 + n + i], 'NX') then written = written + #ARGV[2 + n + i] end
end
local memo, vals = {}, {}
for i = 1, n do memo[i] = KEYS[i]; vals[i] = ARGV[2 + i] end
if redis.call('EXISTS', unpack(memo)) == 0 then
  for i = 1, n do redis.call('SET', memo[i], vals[i]) end
  local notified = 0
  if #ARGV > 2 + n + k then
    local a = 2 + n + k
    local count = tostring(tonumber(ARGV[a + 2]) + written)
    redis.call('PUBLISH', ARGV[a + 1], (string.gsub(ARGV[a + 3], '"@written@"', count, 1)))
    notified = 1
  end
  return {written, notified, unpack(vals)}
end
for i = 1, n do redis.call('SET', memo[i], vals[i], 'NX') end
return {written, 0, unpack(redis.call('MGET', unpack(memo)))}`;
/** The client's command for CLAIM_REDUCTIONS (defineCommand). */
interface ClaimCommand {
  ggClaimReductions(numKeys: number, ...keysAndArgs: (string | number | Buffer)[]): Promise<unknown>;
}
/** The name of the empty object: what the configuration check writes. */
const EMPTY_OBJECT = computeName(Buffer.alloc(0));
/** Redis refuses strings longer than proto-max-bulk-len (512 MiB by default). */
export const REDIS_MAX_OBJECT = 512 * 1024 * 1024;

export interface RedisStoreOptions extends RedisAddress {
  /** Give up connecting after this long (fail fast on a wrong host or a firewall). */
  connectTimeoutMs?: number;
  /** Objects up to this size are read/written whole through ioredis; larger ones stream. */
  singleShotBytes?: number;
  /** Names per pipelined EXISTS batch. */
  batchSize?: number;
}

const DEFAULTS = {
  connectTimeoutMs: 3000,
  singleShotBytes: 4 * 1024 * 1024,
  batchSize: 2000,
};

export class RedisStore implements RemoteStore {
  readonly kind = 'redis' as const;
  readonly description: string;
  readonly client: Redis;
  private readonly opts: Required<Omit<RedisStoreOptions, 'username' | 'password'>> &
    Pick<RedisStoreOptions, 'username' | 'password'>;
  private lastError: Error | undefined;
  private everReady = false;
  private connecting: Promise<void> | undefined;

  /** Small gets and puts made together travel together: one MGET, one pipeline of SET NX (tick-batcher.ts). */
  private readonly gets = new TickBatcher<string, Buffer | null>({
    maxItems: 256,
    maxWeight: 4 * 1024 * 1024,
    weight: nameSize,
    run: (names) => this.run(`reading ${names.length} objects`, () => this.client.mgetBuffer(names)),
  });
  private readonly puts = new TickBatcher<{ name: string; data: Buffer }, 'OK' | null | Error>({
    maxItems: 128,
    maxWeight: 1024 * 1024,
    weight: (x) => x.data.length,
    run: (items) =>
      this.run(`storing ${items.length} objects`, async () => {
        const p = this.client.pipeline();
        for (const { name, data } of items) p.set(name, data, 'NX');
        const replies = (await p.exec()) ?? [];
        return replies.map(([err, v]) => err ?? (v as 'OK' | null));
      }),
  });

  constructor(options: RedisStoreOptions) {
    this.opts = { ...DEFAULTS, ...options };
    const scheme = options.tls ? 'rediss' : 'redis';
    this.description = `${scheme}://${options.host}:${options.port}/${options.db}`;
    const redisOptions: RedisOptions = {
      host: options.host,
      port: options.port,
      db: options.db,
      username: options.username,
      password: options.password,
      lazyConnect: true,
      connectTimeout: this.opts.connectTimeoutMs,
      // RESP2 works with every Redis-compatible server (RESP3 needs HELLO, Redis >= 6).
      protocol: 2,
      // Concurrent small puts/gets/exists issued in one tick go out as one pipeline.
      enableAutoPipelining: true,
      maxRetriesPerRequest: 3,
      // Never retry a server we could not reach the first time (fail fast on bad configuration); after that, ride
      // out a short outage and then give up instead of reconnecting forever.
      retryStrategy: (times: number) => (!this.everReady || times > 10 ? null : Math.min(100 * times, 1000)),
    };
    // SNI takes host names only (an IP address is checked against the certificate's IP entries without it).
    if (options.tls) {
      trustExtraCaCerts();
      redisOptions.tls = net.isIP(options.host) ? {} : { servername: options.host };
    }
    this.client = new Redis(redisOptions);
    // Sent by its hash (EVALSHA; the text only when the server does not know it yet).
    this.client.defineCommand('ggClaimReductions', { lua: CLAIM_REDUCTIONS });
    // Without a listener an 'error' event would crash the process; the last one explains a failed connect.
    this.client.on('error', (e: Error) => {
      this.lastError = e;
    });
    this.client.on('ready', () => {
      this.everReady = true;
    });
  }

  static fromUri(uri: string, overrides: Partial<RedisStoreOptions> = {}): RedisStore {
    return new RedisStore({ ...parseRedisUri(uri), ...overrides });
  }

  /** Connect once; every public method goes through here so a bad configuration fails with a clear code. */
  private async ready(): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return;
    if (this.everReady && status !== 'end') return; // reconnecting: commands queue until it is back or gives up
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    if (this.client.status === 'end' && this.everReady) {
      throw new GgError(
        'GG_E_STORAGE_UNREACHABLE',
        `lost the connection to ${this.description} and could not reconnect`,
        {
          hint: 'check that the Redis server is running, then run the command again',
          retryable: true,
        },
      );
    }
    this.lastError = undefined;
    // connectTimeout covers the TCP handshake only: something that accepts and never answers would hang us.
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = Object.assign(new Error(`connected, but no Redis reply within ${this.opts.connectTimeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
        reject(e);
      }, this.opts.connectTimeoutMs);
    });
    try {
      await Promise.race([this.client.connect(), silent]);
    } catch (e) {
      this.client.disconnect(); // no background reconnect loop
      throw this.classify(
        (e as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? (e as Error) : (this.lastError ?? (e as Error)),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private classify(e: Error): GgError {
    return classifyRedisError(e, {
      description: this.description,
      host: this.opts.host,
      port: this.opts.port,
      db: this.opts.db,
      hasPassword: this.opts.password !== undefined,
      connectTimeoutMs: this.opts.connectTimeoutMs,
    });
  }

  /** Connect, authenticate, and prove we may write: storing the empty object (content-addressed, so harmless). */
  async check(o: { readOnly?: boolean } = {}): Promise<void> {
    await this.ready();
    try {
      await this.client.ping();
      // ioredis reports a failed SELECT only as an 'error' event and goes on in database 0: ask ourselves.
      if (this.opts.db !== 0) await this.client.call('SELECT', String(this.opts.db));
      if (!o.readOnly) await this.client.set(EMPTY_OBJECT, '', 'NX');
    } catch (e) {
      if (/READONLY/.test((e as Error).message)) throw readOnlyReplica(this.description, e as Error);
      throw this.classify(e as Error);
    }
  }

  /** Run a command once connected, failures as GG_E_STORAGE_*. Not async itself: no extra hops on the hot path. */
  private run<T>(what: string, op: () => Promise<T>): Promise<T> {
    const fail = (e: unknown): never => {
      throw storageIoError(e, what, this.description);
    };
    if (this.client.status === 'ready') return op().catch(fail);
    return this.ready().then(op).catch(fail);
  }

  async has(name: string): Promise<boolean> {
    assertName(name);
    return this.run(`checking ${name}`, async () => (await this.client.exists(name)) === 1);
  }

  async hasMany(names: readonly string[]): Promise<boolean[]> {
    for (const n of names) assertName(n);
    if (names.length === 0) return [];
    return this.run(`checking ${names.length} objects`, async () => {
      const batches = chunked(names, this.opts.batchSize);
      const answers = await mapConcurrent(batches, 4, async (batch) => {
        const p = this.client.pipeline();
        for (const n of batch) p.exists(n);
        const replies = (await p.exec()) ?? [];
        return replies.map(([err, v]) => {
          if (err) throw err;
          return v === 1;
        });
      });
      return answers.flat();
    });
  }

  async delete(name: string): Promise<void> {
    assertName(name);
    await this.run(`deleting ${name}`, () => this.client.del(name));
  }

  /** Drop a copy that failed verification. A concurrent re-upload of the same name may be dropped too: that is
   *  only a later miss, which uploadMissing / recomputation repairs; a bad copy kept would be worse. */
  private async dropCorrupt(name: string): Promise<void> {
    await this.client.del(name).catch(() => undefined);
  }

  async get(name: string): Promise<Buffer> {
    assertName(name);
    const size = nameSize(name);
    if (size > this.opts.singleShotBytes) {
      // Into one buffer of the promised size, hashed as it arrives (ioredis would build and copy the reply whole).
      const data = Buffer.allocUnsafe(size);
      const hasher = new NameHasher();
      let at = 0;
      await this.streamGet(name, (piece) => {
        hasher.update(piece);
        piece.copy(data, at);
        at += piece.length;
      });
      const actual = hasher.digestName();
      if (actual !== name) {
        await this.dropCorrupt(name);
        throw corruptObject(name, this.description, `its ${size} bytes hash to ${actual}`);
      }
      return data;
    }
    const data = await this.gets.add(name);
    if (data === null) throw missingObject(name, this.description);
    const actual = computeName(data);
    if (actual !== name) {
      await this.dropCorrupt(name);
      throw corruptObject(name, this.description, `its ${data.length} bytes hash to ${actual}`);
    }
    return data;
  }

  async getToFile(name: string, dest: string, mode?: number): Promise<void> {
    assertName(name);
    const size = nameSize(name);
    const tmp = `${dest}.gg-tmp-${process.pid}-${randomUUID()}`;
    if (size <= this.opts.singleShotBytes) {
      const data = await this.get(name);
      try {
        fs.writeFileSync(tmp, data);
        if (mode !== undefined) fs.chmodSync(tmp, mode);
        fs.renameSync(tmp, dest);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw fromSystemError(e, `writing ${dest}`);
      }
      return;
    }
    // Pieces arrive as views into the connection's reused read buffer and are written out before the next read
    // (a synchronous write into the page cache): no copy, no garbage, flat memory for any size.
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w', 0o644);
    } catch (e) {
      throw fromSystemError(e, `writing ${dest}`);
    }
    const hasher = new NameHasher();
    try {
      try {
        await this.streamGet(name, (piece) => {
          hasher.update(piece);
          for (let off = 0; off < piece.length;) off += fs.writeSync(fd, piece, off);
        });
      } finally {
        fs.closeSync(fd);
      }
      const actual = hasher.digestName();
      if (actual !== name) {
        await this.dropCorrupt(name);
        throw corruptObject(name, this.description, `its ${size} bytes hash to ${actual}`);
      }
      if (mode !== undefined) fs.chmodSync(tmp, mode);
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e instanceof GgError ? e : fromSystemError(e, `writing ${dest}`);
    }
  }

  /**
   * `GET name` on a connection of its own; `consume` gets exactly the promised number of bytes, synchronously, as
   * views valid only during the call. Its own errors come back as they are; the connection's as GG_E_STORAGE_IO.
   */
  private async streamGet(name: string, consume: BulkConsumer): Promise<void> {
    const size = nameSize(name);
    const conn = await this.openStream(`reading ${name}`);
    try {
      const header = await this.streamStep(`reading ${name}`, async () => {
        await conn.write(encodeCommand(['GET', name]));
        return conn.readSimple();
      });
      if (header === '$-1') throw missingObject(name, this.description);
      if (!/^\$\d+$/.test(header))
        throw storageIoError(new Error(`unexpected reply '${header}'`), `reading ${name}`, this.description);
      const stored = Number(header.slice(1));
      if (stored !== size) {
        await this.dropCorrupt(name);
        throw corruptObject(name, this.description, `it holds ${stored} bytes, its name says ${size}`);
      }
      let consumerFailed = false; // the consumer's own error passes through unchanged
      try {
        await conn.readBulk(size, (piece) => {
          try {
            consume(piece);
          } catch (e) {
            consumerFailed = true;
            throw e;
          }
        });
      } catch (e) {
        if (consumerFailed) throw e;
        throw storageIoError(e, `reading ${name}`, this.description);
      }
    } finally {
      conn.destroy();
    }
  }

  /** A connection of its own for one large transfer (see redis-stream-connection.ts). */
  private async openStream(what: string): Promise<RedisStreamConnection> {
    await this.ready();
    try {
      return await RedisStreamConnection.open(this.opts);
    } catch (e) {
      if (e instanceof RedisReplyError) throw this.classify(e);
      throw storageIoError(e, what, this.description);
    }
  }

  private async streamStep<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      throw storageIoError(e, what, this.description);
    }
  }

  async put(data: Buffer): Promise<PutResult> {
    const name = computeName(data);
    this.checkSize(name, data.length);
    // Large values skip ioredis, which would copy them twice (command, then auto-pipeline batch).
    if (data.length > this.opts.singleShotBytes) return this.upload(name, data, 'the data');
    const reply = await this.puts.add({ name, data });
    if (reply instanceof Error) throw storageIoError(reply, `storing ${name}`, this.description);
    return { name, written: reply === 'OK' };
  }

  private checkSize(name: string, size: number): void {
    if (size > REDIS_MAX_OBJECT) {
      throw new GgError(
        'GG_E_STORAGE_IO',
        `object ${name} is ${size} bytes; a Redis string holds at most ${REDIS_MAX_OBJECT} bytes`,
        {
          hint: 'use S3 storage (s3://...) for objects larger than 512 MiB',
        },
      );
    }
  }

  async putFile(file: string, name?: string): Promise<PutResult> {
    return putFileVia(this, file, name, this.opts.singleShotBytes, async (expected) => {
      await this.upload(expected, fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), file);
    });
  }

  async putStream(name: string, body: Readable): Promise<PutResult> {
    assertName(name);
    if (await this.has(name)) {
      body.resume();
      return { name, written: false };
    }
    return this.upload(name, body, `the stream for ${name}`);
  }

  /**
   * `SET name <body> NX` streamed on its own connection; the command's last bytes go out only once the body has
   * hashed to `name`, so a wrong or incomplete body is never stored (the connection is dropped instead).
   */
  private async upload(name: string, body: Readable | Buffer, source: string): Promise<PutResult> {
    const size = nameSize(name);
    this.checkSize(name, size);
    const hasher = new NameHasher();
    const conn = await this.openStream(`storing ${name}`);
    try {
      await this.streamStep(`storing ${name}`, () =>
        conn.write(`*4\r\n$3\r\nSET\r\n$${name.length}\r\n${name}\r\n$${size}\r\n`),
      );
      if (Buffer.isBuffer(body)) return await this.finishUpload(conn, name, body); // named from these very bytes
      const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await chunks.next();
        } catch (e) {
          throw fromSystemError(e, `reading ${source}`);
        }
        if (next.done) break;
        hasher.update(next.value);
        if (hasher.bytes > size) break;
        await this.streamStep(`storing ${name}`, () => conn.write(next.value));
      }
      const actual = hasher.bytes > size ? `more than ${size} bytes` : hasher.digestName();
      if (actual !== name) {
        throw new GgError(
          'GG_E_OBJECT_CORRUPT',
          `${source} does not match ${name} (it hashes to ${actual}); nothing was stored`,
          {
            hint: 'the data changed while it was being uploaded, or the local copy is damaged; run the command again',
          },
        );
      }
      return await this.finishUpload(conn, name);
    } finally {
      if (!Buffer.isBuffer(body)) body.destroy();
      conn.destroy(); // before the final bytes, this discards the half-sent command on the server
    }
  }

  /** Send the rest of the SET command (after `data`, if given) and read whether it stored the object. */
  private async finishUpload(conn: RedisStreamConnection, name: string, data?: Buffer): Promise<PutResult> {
    const reply = await this.streamStep(`storing ${name}`, async () => {
      if (data) await conn.write(data);
      await conn.write('\r\n$2\r\nNX\r\n');
      return conn.readSimple();
    });
    if (reply !== '+OK' && reply !== '$-1')
      throw storageIoError(new Error(`unexpected reply '${reply}'`), `storing ${name}`, this.description);
    return { name, written: reply === '+OK' };
  }

  async getReduction(ref: string): Promise<string | undefined> {
    assertRef(ref);
    return parseReduction(await this.run(`looking up ${ref}`, () => this.client.get(REDUCTION_PREFIX + ref)));
  }

  async getReductions(refs: readonly string[]): Promise<(string | undefined)[]> {
    for (const r of refs) assertRef(r);
    if (refs.length === 0) return [];
    return this.run(`looking up ${refs.length} reductions`, async () => {
      const answers = await mapConcurrent(chunked(refs, this.opts.batchSize), 4, (batch) =>
        this.client.mget(batch.map((r) => REDUCTION_PREFIX + r)),
      );
      return answers.flat().map(parseReduction);
    });
  }

  async putReduction(ref: string, result: string): Promise<void> {
    assertRef(ref);
    assertMemoValue(result);
    await this.run(`recording the result of ${ref}`, () => this.client.set(REDUCTION_PREFIX + ref, result));
  }

  /** A thunk's entries in one command (MSET). */
  async putReductions(entries: readonly (readonly [string, string])[]): Promise<void> {
    assertEntries(entries);
    if (entries.length === 0) return;
    await this.run(`recording the result of ${entries[0]![0]}`, () =>
      this.client.mset(...entries.flatMap(([ref, result]) => [REDUCTION_PREFIX + ref, result])),
    );
  }

  async deleteReduction(ref: string): Promise<void> {
    assertRef(ref);
    await this.run(`dropping the memo entry of ${ref}`, () => this.client.del(REDUCTION_PREFIX + ref));
  }

  async claimReductions(
    entries: readonly (readonly [string, string])[],
    objects: readonly Buffer[] = [],
    notice?: ClaimNotice,
  ): Promise<Claim> {
    assertEntries(entries);
    if (entries.length === 0) return { recorded: [], bytesWritten: 0, notified: false };
    const names = objects.map((data) => {
      const name = computeName(data);
      this.checkSize(name, data.length);
      return name;
    });
    const keys = [...entries.map(([ref]) => REDUCTION_PREFIX + ref), ...names];
    const values = entries.map(([, result]) => result);
    const args: (string | number | Buffer)[] = [entries.length, objects.length, ...values, ...objects];
    if (notice) args.push(notice.channel, notice.writtenBase, notice.message);
    const got = (await this.run(`recording the result of ${entries[0]![0]}`, () =>
      (this.client as unknown as ClaimCommand).ggClaimReductions(keys.length, ...keys, ...args),
    )) as [number, number, ...(string | null)[]];
    // Recorded values as stored, signature included (memo-signer.ts): the caller checks and strips it.
    return {
      recorded: got.slice(2).map((v, i) => (v === null ? values[i]! : parseReduction(v as string))),
      bytesWritten: Number(got[0]),
      notified: got[1] === 1,
    };
  }

  async close(): Promise<void> {
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }
}
