/**
 * `gg worker`: a long-lived process that takes thunk jobs from the cluster's BullMQ queues (the shared one,
 * and its own for thunks placed on it because it holds their inputs) and runs each through the shared worker
 * runtime: fetch from the store into its LRU cache, run in the jail, upload outputs, record the memo.
 *
 * Failure model: BullMQ leases each job (renewed while it runs); a worker killed or frozen loses its lease
 * and the job goes back to the queue for another worker; a frozen worker that wakes up cannot complete it
 * ("Missing lock") and its memo write loses to the first result (claimReductions). A malformed job is
 * rejected and logged; the worker carries on.
 */
import os from 'node:os';
import { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { GgError, isGgError } from '../../errors.js';
import { nameSize } from '../../ir/name.js';
import { decodeThunk } from '../../ir/thunk.js';
import { lazySandbox, type SandboxKind } from '../../sandbox/create-sandbox.js';
import { type LazySandbox } from '../../sandbox/lazy-sandbox.js';
import type { SandboxLimits } from '../../sandbox/sandbox.js';
import { Semaphore } from '../../store/concurrency.js';
import { MemoSigner } from '../../store/memo-signer.js';
import { openRemoteStore } from '../../store/open-store.js';
import type { RemoteStore } from '../../store/remote-store.js';
import { WorkerCache } from '../../store/worker-cache.js';
import { NOTICE_WRITTEN, type ClaimNotice } from '../../store/store.js';
import { WorkerRuntime, type NoticeFor, type RuntimeResult } from '../worker-runtime.js';
import {
  CANCEL_CHANNEL,
  DEAD_AFTER_MS,
  HEARTBEAT_MS,
  PREFIX,
  SHARED_QUEUE,
  WORKERS_KEY,
  ADVERT_MAX_OBJECTS,
  ADVERT_MIN_BYTES,
  earlyChannel,
  parseEarlyNotice,
  parseJobData,
  packMessages,
  resultsChannel,
  thunkBytes,
  toWireError,
  workerCacheKey,
  workerKey,
  workerQueue,
  type ClientMessage,
  type JobData,
  type JobOutcome,
  type WireResult,
} from './protocol.js';
import { clusterConnection, connectError } from './redis-connection.js';

export interface ClusterWorkerOptions {
  /** Where objects and the memo live (redis://, s3://, ...). */
  storageUri: string;
  /** The queue's Redis (default: the storage URI, which must then be redis:// or rediss://). */
  queueUri?: string;
  jobs: number;
  cacheDir: string;
  cacheBytes: number;
  sandbox: SandboxKind;
  limits?: Partial<SandboxLimits>;
  id?: string;
  /** Key for signed memo entries (memo-signer.ts): what the worker records is signed with it. */
  memoKey?: Buffer;
  /** How long a job's lease lasts without renewal (a frozen worker's jobs return to the queue after it). */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

/** How long 'took' and 'started' messages wait to travel with others (tell). */
const NOTE_DELAY_MS = 20;

/** Jobs remembered after they started here (a late early notice of one is ignored; see `jobs`). */
const JOBS_REMEMBERED = 1024;

/** How long a starting worker waits for an unreachable store (a Redis restart) before giving up. */
const START_PATIENCE_MS = 30_000;

export class ClusterWorker {
  readonly id: string;
  private readonly log: (line: string) => void;
  private readonly slots: Semaphore;
  private readonly workers: Worker[] = [];
  private runtime!: WorkerRuntime;
  private store!: RemoteStore;
  private readonly cache: WorkerCache;
  private readonly sandbox: LazySandbox;
  private readonly signer: MemoSigner;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private heartbeat: NodeJS.Timeout | undefined;
  private busy = 0;
  private done = 0;
  private failed = 0;
  private rejected = 0;
  private readonly startedAt = Date.now();
  private reopening: Promise<void> | undefined;
  /** Infrastructure failures in a row (store unreachable, uploads refused): past a few, stop taking work. */
  private infraStreak = 0;
  private pausedUntil = 0;
  /** Thunks taken and not settled, by 'JOB/INDEX': a cancel message stops one. */
  private readonly running = new Map<string, AbortController>();
  /**
   * Jobs started here, by id, the latest JOBS_REMEMBERED: by BullMQ (process) or by their early notice
   * (onEarly; `early` until BullMQ delivers the job, which then joins the run instead of starting another).
   * `payload` is the job's data as JSON: BullMQ's copy must match the notice's to be joined.
   */
  private readonly jobs = new Map<string, { payload: string; outcomes: Promise<JobOutcome[]>; early: boolean }>();
  private stopping = false;
  /** Messages waiting to go to each client (tell). */
  private readonly outbox = new Map<
    string,
    { msgs: ClientMessage[]; sent: Promise<void>; flush: () => void; drop: () => ClientMessage[] }
  >();
  /** The store is the queue's Redis server: a thunk's outcome can go out with its memo claim (claimNotice). */
  private sameRedis = false;

  private constructor(private readonly o: ClusterWorkerOptions) {
    this.id =
      o.id ??
      `${os
        .hostname()
        .replace(/[^A-Za-z0-9_.-]/g, '_')
        .slice(0, 40)}-${process.pid}`;
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.slots = new Semaphore(o.jobs);
    this.signer = new MemoSigner(o.memoKey);
    this.cache = new WorkerCache(o.cacheDir, { maxBytes: o.cacheBytes });
    const kind = o.sandbox;
    this.sandbox = lazySandbox(kind, this.cache.hashCache, this.cache.store.cacheDir);
    const conn = clusterConnection(this.queueUri);
    this.redis = new Redis({ ...conn, lazyConnect: true });
    this.sub = new Redis({ ...conn, lazyConnect: true });
    for (const r of [this.redis, this.sub]) r.on('error', () => undefined); // reconnects; failures surface per command
  }

  private get queueUri(): string {
    const uri = this.o.queueUri ?? this.o.storageUri;
    if (!/^rediss?:\/\//.test(uri)) {
      throw new GgError(
        'GG_E_USAGE',
        `the worker's queue must be a Redis server, and the store '${uri.replace(/\?.*$/, '')}' is not one`,
        {
          hint: 'give the queue with --queue redis://host:port (the store may stay on S3)',
        },
      );
    }
    return uri;
  }

  static async start(o: ClusterWorkerOptions): Promise<ClusterWorker> {
    if (!(Number.isInteger(o.jobs) && o.jobs >= 1 && o.jobs <= 4096))
      throw new GgError('GG_E_USAGE', `--jobs must be 1..4096, not ${o.jobs}`);
    const w = new ClusterWorker(o);
    try {
      // A worker joining while Redis restarts waits for it (a while), whether the store or the queue connection
      // meets the outage; a wrong password or URI fails at once.
      let storeOpen = false;
      for (const deadline = Date.now() + START_PATIENCE_MS; ;) {
        try {
          if (!storeOpen) await w.openStore();
          storeOpen = true;
          await w.connectQueue();
          break;
        } catch (e) {
          if (!isGgError(e) || e.code !== 'GG_E_STORAGE_UNREACHABLE' || Date.now() > deadline) throw e;
          w.log(`gg worker ${w.id}: ${e.message.split('\n')[0]}; trying again`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      await w.begin();
    } catch (e) {
      await w.stop().catch(() => undefined);
      throw e;
    }
    return w;
  }

  /** Connects the queue's two connections; on failure both are reset, so a later attempt starts afresh. */
  private async connectQueue(): Promise<void> {
    let why: unknown;
    const onError = (e: unknown): unknown => (why ??= e);
    this.redis.once('error', onError);
    try {
      await this.redis.connect();
      await this.redis.ping();
      await this.sub.connect();
    } catch (e) {
      this.redis.disconnect();
      this.sub.disconnect();
      throw connectError(clusterConnection(this.queueUri), why ?? e);
    } finally {
      this.redis.off('error', onError);
    }
  }

  private async openStore(): Promise<void> {
    const store = await openRemoteStore(this.o.storageUri);
    await store.check();
    this.store = store;
    // One server for both (the queue defaults to the store): the memo claim can carry the outcome message.
    this.sameRedis = store.kind === 'redis' && (this.o.queueUri === undefined || this.o.queueUri === this.o.storageUri);
    this.runtime = new WorkerRuntime({
      cache: this.cache,
      sandbox: this.sandbox,
      source: store,
      publish: store,
      signer: this.signer,
      ...(this.o.limits ? { limits: this.o.limits } : {}),
    });
  }

  /** A store client that gave up reconnecting (a long Redis outage) is replaced, once at a time. */
  private reopenStore(): Promise<void> {
    this.reopening ??= (async () => {
      const old = this.store;
      try {
        await this.openStore();
        await old.close().catch(() => undefined);
        this.log(`gg worker ${this.id}: reconnected to the store`);
      } catch (e) {
        this.log(`gg worker ${this.id}: store still unreachable: ${(e as Error).message}`);
      }
    })().finally(() => (this.reopening = undefined));
    return this.reopening;
  }

  private async begin(): Promise<void> {
    const connection = clusterConnection(this.queueUri);
    const lockDuration = this.o.lockDurationMs ?? 10_000;
    const common = {
      connection,
      prefix: PREFIX,
      concurrency: this.o.jobs,
      lockDuration,
      stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
      // A job whose worker died is re-queued up to this many times; after that the client re-submits it.
      maxStalledCount: 3,
      name: this.id,
      removeOnComplete: { age: 600 },
      removeOnFail: { age: 600 },
    };
    for (const q of [workerQueue(this.id), SHARED_QUEUE]) {
      const w = new Worker(q, (job, _token, signal) => this.process(job, signal), common);
      w.on('failed', (job: Job | undefined, err: Error) => {
        const client = job ? clientOf(job) : undefined;
        if (!job || !client) return;
        let error = toWireError(err);
        try {
          const parsed = JSON.parse(err.message) as unknown;
          if (typeof parsed === 'object' && parsed !== null && 'code' in parsed) error = parsed as typeof error;
        } catch {
          // a BullMQ failure (stalled too often, lock lost): infrastructure, retryable
        }
        void this.tell(client, { t: 'failed', job: job.id ?? '', error });
      });
      w.on('error', (e: Error) => this.log(`gg worker ${this.id}: queue: ${e.message}`));
      this.workers.push(w);
    }
    const early = earlyChannel(this.id);
    await this.sub.subscribe(CANCEL_CHANNEL, early);
    // 'JOB/I': one thunk of a job (a straggler's loser, Ctrl-C); 'JOB': the whole job.
    this.sub.on('message', (ch: string, what: string) => {
      if (ch === early) return this.onEarly(what);
      const run = this.running.get(what);
      if (run) run.abort(new GgError('GG_E_CANCELLED', 'cancelled by its client'));
      else if (!what.includes('/')) {
        for (const w of this.workers) w.cancelJob(what, 'cancelled by its client');
        for (const [key, c] of this.running)
          if (key.startsWith(`${what}/`)) c.abort(new GgError('GG_E_CANCELLED', 'cancelled by its client'));
      }
    });
    await this.advertise();
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.log(
      `gg worker ${this.id}: ${this.o.jobs} slots, cache ${this.o.cacheDir} (${this.cache.bytes} of ${this.o.cacheBytes} bytes), sandbox ${this.o.sandbox}`,
    );
  }

  /**
   * Messages to a client. A thunk's outcome goes out at once, since the client's next step waits for it (and
   * so it reaches Redis before BullMQ's completion of the job), with whatever waits before it. 'took' and
   * 'started' wait up to NOTE_DELAY_MS for company: a short thunk's 'started' then travels with its 'done', and
   * thunks starting together share one PUBLISH; each message the client gets separately costs it a wake-up.
   * (The client times stragglers from 'started': 500 ms at the least, so 20 ms late does not matter.)
   * A 'took' followed by its job's first 'started' in one batch is left out: 'started' says the same.
   */
  private tell(client: string, msg: ClientMessage): Promise<void> {
    let out = this.outbox.get(client);
    if (!out) {
      const msgs: ClientMessage[] = [];
      let flush!: () => void;
      let drop!: () => ClientMessage[];
      const sent = new Promise<void>((resolve) => {
        const close = (): boolean => {
          if (this.outbox.get(client) !== out) return false;
          this.outbox.delete(client);
          clearTimeout(timer);
          return true;
        };
        flush = () => {
          if (close()) resolve(this.deliver(client, msgs));
        };
        drop = () => {
          if (!close()) return [];
          resolve();
          return msgs;
        };
      });
      const timer = setTimeout(() => flush(), NOTE_DELAY_MS);
      this.outbox.set(client, (out = { msgs, sent, flush, drop }));
    }
    const took = msg.t === 'started' ? out.msgs.findIndex((m) => m.t === 'took' && m.job === msg.job) : -1;
    if (took >= 0) out.msgs.splice(took, 1);
    out.msgs.push(msg);
    if (msg.t === 'done' || msg.t === 'failed') out.flush();
    return out.sent;
  }

  /**
   * A thunk's outcome as its memo claim's notice (same Redis only): the claim publishes it, with what waits in
   * the outbox for that client, when the result is the one recorded. Saves the PUBLISH after the claim.
   */
  private doneNotice(client: string, job: string, i: number, r: RuntimeResult, waiting: ClientMessage[]): ClaimNotice {
    const result = this.wireResult(r);
    const done = JSON.stringify({
      t: 'done',
      job,
      i,
      result: { ...result, stats: { ...result.stats, bytesUploaded: 0 } },
    } satisfies ClientMessage);
    return {
      channel: resultsChannel(client),
      writtenBase: r.stats.bytesUploaded,
      // Quotes inside strings (the log) are escaped: only the key itself matches.
      message: packMessages([
        ...waiting.map((m) => JSON.stringify(m)),
        done.replace('"bytesUploaded":0', `"bytesUploaded":${NOTICE_WRITTEN}`),
      ]),
    };
  }

  private wireResult(r: RuntimeResult): WireResult {
    return {
      outputs: r.outputs,
      wallMs: r.wallMs,
      log: r.log.slice(0, 64 * 1024),
      worker: this.id,
      stats: r.stats,
      signed: this.signer.signing,
    };
  }

  private async deliver(client: string, msgs: ClientMessage[]): Promise<void> {
    try {
      await this.redis.publish(resultsChannel(client), packMessages(msgs.map((m) => JSON.stringify(m))));
    } catch (e) {
      // The client's safety poll reads the job's state from BullMQ when a message is lost.
      this.log(`gg worker ${this.id}: could not report to ${client}: ${(e as Error).message}`);
    }
  }

  /** What the cache already holds (kept across restarts), for placement: the largest objects, capped. */
  private async advertise(): Promise<void> {
    const names = [...this.cache.names()]
      .map((n) => ({ n, size: nameSize(n) }))
      .filter((o) => o.size >= ADVERT_MIN_BYTES)
      .sort((a, b) => b.size - a.size)
      .slice(0, ADVERT_MAX_OBJECTS)
      .map((o) => o.n);
    const m = this.redis.multi().del(workerCacheKey(this.id));
    for (let i = 0; i < names.length; i += 1000) m.sadd(workerCacheKey(this.id), ...names.slice(i, i + 1000));
    await m.pexpire(workerCacheKey(this.id), DEAD_AFTER_MS * 6).exec();
  }

  private async beat(): Promise<void> {
    try {
      await this.redis
        .multi()
        .hset(workerKey(this.id), {
          host: os.hostname(),
          slots: this.o.jobs,
          busy: this.busy,
          cacheBytes: this.cache.bytes,
          cacheMax: this.o.cacheBytes,
          done: this.done,
          failed: this.failed,
          rejected: this.rejected,
          startedAt: this.startedAt,
        })
        .pexpire(workerKey(this.id), DEAD_AFTER_MS * 6)
        .pexpire(workerCacheKey(this.id), DEAD_AFTER_MS * 6)
        .zadd(WORKERS_KEY, Date.now(), this.id)
        .exec();
    } catch {
      // Redis away (restart, cut link): the next beat tries again; clients see us as silent meanwhile.
    }
  }

  /** A job: up to MAX_BATCH thunks, each run when a slot is free and reported as soon as it settles. */
  private async process(job: Job, signal?: AbortSignal): Promise<JobOutcome[]> {
    let data;
    try {
      data = parseJobData(job.data);
    } catch (e) {
      this.rejected++;
      this.log(`gg worker ${this.id}: job ${String(job.id).slice(0, 80)}: ${(e as Error).message}`);
      throw new UnrecoverableError(JSON.stringify(toWireError(e)));
    }
    const id = job.id ?? '';
    const payload = JSON.stringify(data);
    const seen = this.jobs.get(id);
    if (seen?.early) {
      seen.early = false;
      if (seen.payload === payload) {
        // Started from its early notice (its 'started' went out then): BullMQ's lease now covers that run.
        const keys = data.thunks.map((_, i) => `${id}/${i}`);
        const onAbort = (): void => keys.forEach((k) => this.running.get(k)?.abort(signal?.reason));
        signal?.addEventListener('abort', onAbort, { once: true });
        return seen.outcomes.finally(() => signal?.removeEventListener('abort', onAbort));
      }
      // A notice that was not this job (hostile): its runs stop, the job runs as BullMQ gave it.
      this.log(`gg worker ${this.id}: job ${id}: its early notice did not match the job; running the job`);
      for (const [key, c] of this.running)
        if (key.startsWith(`${id}/`)) c.abort(new GgError('GG_E_CANCELLED', 'superseded'));
    }
    // The client learns who holds the job: if we go silent, it sends the thunks still waiting here elsewhere.
    void this.tell(data.client, { t: 'took', job: id, worker: this.id });
    // The outcomes are the job's return value too, for a client that missed the messages (its safety poll).
    const outcomes = Promise.all(data.thunks.map((_, i) => this.runOne(data, id, i, signal)));
    this.remember(id, { payload, outcomes, early: false });
    return outcomes;
  }

  /**
   * A job announced before BullMQ hands it over (earlyChannel): started at once if this worker has a slot free
   * for each of its thunks and has not seen the job; otherwise it waits for BullMQ as any job does. A malformed
   * notice is refused as a malformed job is. Running a thunk twice is harmless: the first memo claim is
   * recorded, and a duplicate's result is the claim's (WorkerRuntime).
   */
  private onEarly(text: string): void {
    if (this.stopping || Date.now() < this.pausedUntil) return;
    let notice;
    try {
      notice = parseEarlyNotice(text);
    } catch (e) {
      this.rejected++;
      this.log(`gg worker ${this.id}: early notice: ${(e as Error).message}`);
      return;
    }
    const { job, data } = notice;
    if (this.jobs.has(job) || this.slots.running + data.thunks.length > this.o.jobs) return;
    const outcomes = Promise.all(data.thunks.map((_, i) => this.runOne(data, job, i)));
    this.remember(job, { payload: JSON.stringify(data), outcomes, early: true });
  }

  private remember(id: string, entry: { payload: string; outcomes: Promise<JobOutcome[]>; early: boolean }): void {
    this.jobs.delete(id);
    this.jobs.set(id, entry);
    if (this.jobs.size > JOBS_REMEMBERED) this.jobs.delete(this.jobs.keys().next().value!);
  }

  private async runOne(data: JobData, job: string, i: number, jobSignal?: AbortSignal): Promise<JobOutcome> {
    const { client } = data;
    const thunk = data.thunks[i]!;
    const ctl = new AbortController();
    const key = `${job}/${i}`;
    const onJobAbort = (): void => ctl.abort(jobSignal?.reason);
    jobSignal?.addEventListener('abort', onJobAbort, { once: true });
    this.running.set(key, ctl);
    try {
      await this.slots.acquire();
      this.busy++;
      try {
        if (ctl.signal.aborted) throw new GgError('GG_E_CANCELLED', `thunk ${thunk} was cancelled before it started`);
        void this.tell(client, { t: 'started', job, i, worker: this.id });
        const inline = thunkBytes(data, i); // a mismatch is hostile: GG_E_JOB_INVALID, this thunk only
        // Messages the claim took from the outbox: told again unless the claim sent them.
        let taken: ClientMessage[] = [];
        const notice: NoticeFor | undefined = this.sameRedis
          ? (partial) => this.doneNotice(client, job, i, partial, (taken = this.outbox.get(client)?.drop() ?? []))
          : undefined;
        let r: RuntimeResult | undefined;
        try {
          r = inline
            ? await this.runtime.run(thunk, decodeThunk(inline), ctl.signal, notice)
            : await this.runtime.runNamed(thunk, ctl.signal, notice);
        } finally {
          if (!r?.notified) for (const m of taken) void this.tell(client, m);
        }
        this.done++;
        this.infraStreak = 0;
        const result = this.wireResult(r);
        // Told now, not once BullMQ has moved the job to completed: the memo is recorded already, and what
        // we report is what it holds (the first result), so the client may take it at once.
        if (!r.notified) void this.tell(client, { t: 'done', job, i, result });
        return { result } satisfies JobOutcome;
      } finally {
        this.busy--;
        this.slots.release();
      }
    } catch (e) {
      this.failed++;
      const err = isGgError(e)
        ? e
        : new GgError('GG_E_INFRA', `running ${thunk}: ${(e as Error).message}`, { retryable: true });
      if (err.code === 'GG_E_STORAGE_UNREACHABLE') void this.reopenStore();
      if (err.retryable && ++this.infraStreak >= 3) void this.backOff(err);
      // Never retried here: the client decides (a program's own failure is final, infrastructure is retried).
      const error = toWireError(err);
      void this.tell(client, { t: 'failed', job, i, error });
      return { error } satisfies JobOutcome;
    } finally {
      if (this.running.get(key) === ctl) this.running.delete(key);
      jobSignal?.removeEventListener('abort', onJobAbort);
    }
  }

  /**
   * A worker that cannot do its job (its uploads fail, its store is gone) would otherwise take job after job
   * from the shared queue and fail each: it pauses instead, and tries again later.
   */
  private async backOff(err: GgError): Promise<void> {
    const now = Date.now();
    if (now < this.pausedUntil) return;
    const pauseMs = 10_000;
    this.pausedUntil = now + pauseMs;
    this.log(
      `gg worker ${this.id}: ${this.infraStreak} infrastructure failures in a row (${err.code}: ${err.message.split('\n')[0]}); taking no work for ${pauseMs / 1000} s`,
    );
    await Promise.all(this.workers.map((w) => w.pause(true).catch(() => undefined)));
    await new Promise((r) => setTimeout(r, pauseMs).unref());
    await this.reopenStore();
    this.infraStreak = 0;
    for (const w of this.workers) void w.resume();
  }

  get stats(): { done: number; failed: number; rejected: number; busy: number } {
    return { done: this.done, failed: this.failed, rejected: this.rejected, busy: this.busy };
  }

  /** Finish running jobs (or, with `force`, cancel them), leave the registry, release everything. */
  async stop(force = false): Promise<void> {
    clearInterval(this.heartbeat);
    this.stopping = true;
    if (force) {
      for (const w of this.workers) w.cancelAllJobs('worker stopping');
      for (const c of this.running.values()) c.abort(new GgError('GG_E_CANCELLED', 'worker stopping'));
    }
    await Promise.all(this.workers.map((w) => w.close(force).catch(() => undefined)));
    // Runs started from early notices that BullMQ has not handed over yet finish too (or were cancelled).
    await Promise.all([...this.jobs.values()].filter((j) => j.early).map((j) => j.outcomes));
    try {
      if (this.redis.status === 'ready')
        await this.redis.multi().del(workerKey(this.id), workerCacheKey(this.id)).zrem(WORKERS_KEY, this.id).exec();
    } catch {
      // best effort: a silent worker drops out of `gg workers` by itself
    }
    this.redis.disconnect();
    this.sub.disconnect();
    await this.runtime?.close();
    await this.sandbox.close();
    await this.store?.close().catch(() => undefined);
    await this.cache.close();
  }
}

function clientOf(job: Job): string | undefined {
  try {
    return parseJobData(job.data).client;
  } catch {
    return undefined;
  }
}
