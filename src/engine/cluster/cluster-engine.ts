/**
 * The cluster engine (`gg force --engine cluster`): every thunk ready to run becomes one BullMQ job naming
 * it; `gg worker`s on any number of hosts run them and report back. The client moves no intermediate
 * object: workers fetch inputs from the shared store and upload outputs to it.
 *
 * Robustness, on top of BullMQ's leases and stalled-job recovery:
 *  - results come back on this client's own list (resultsKey); a safety poll reads the job's state from
 *    BullMQ when nothing was heard for a while (a lost message, a Redis restart) and re-submits a lost job;
 *  - a job placed on a worker's own queue is moved to the shared queue when that worker goes silent;
 *  - cancelling (a straggler's loser, Ctrl-C, --fail-fast) removes a waiting job and tells the worker
 *    running it to stop (CANCEL_CHANNEL).
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue, type Job } from 'bullmq';
import { GgError } from '../../errors.js';
import { isValidName, nameSize } from '../../ir/name.js';
import type { Thunk } from '../../ir/thunk.js';
import type { Engine, ExecuteOptions, ExecutionResult } from '../engine.js';
import { Placement } from '../placement.js';
import {
  CANCEL_CHANNEL,
  DEAD_AFTER_MS,
  HEARTBEAT_MS,
  PREFIX,
  SHARED_QUEUE,
  WORKERS_KEY,
  ADVERT_MAX_OBJECTS,
  fromWireError,
  parseWireResult,
  parseWorkerInfo,
  resultsKey,
  workerCacheKey,
  workerKey,
  workerQueue,
  type ClientMessage,
  type JobData,
  type WorkerInfo,
} from './protocol.js';
import { clusterConnection, connectError } from './redis-connection.js';

export interface ClusterEngineOptions {
  queueUri: string;
  /** Data-aware placement on (default) or off (every job on the shared queue: for measuring). */
  placement?: boolean;
  /** Nothing heard of a job for this long: ask BullMQ for its state (default 5 s). */
  pollAfterMs?: number;
}

export interface ClusterReport {
  jobs: number;
  placed: number;
  resubmitted: number;
  cancelled: number;
  bytesFetched: number;
  bytesUploaded: number;
  /** Per-thunk time on the workers: fetching inputs, running, uploading. */
  fetchMs: number;
  runMs: number;
  uploadMs: number;
}

interface Pending {
  jobId: string;
  name: string;
  tags: readonly string[];
  inputs: { name: string; size: number }[];
  queue: string;
  placedOn?: string;
  worker?: string;
  lastHeard: number;
  onStarted?: (worker: string | undefined) => void;
  resolve: (r: ExecutionResult) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

export class ClusterEngine implements Engine {
  readonly name = 'cluster';
  readonly speculative = true;
  readonly clientId = `c${crypto.randomBytes(6).toString('hex')}`;
  private readonly queues = new Map<string, Queue>();
  private readonly pending = new Map<string, Pending>();
  private readonly live = new Map<string, WorkerInfo>();
  private readonly inflight = new Map<string, number>();
  private readonly placement = new Placement();
  /** thunk -> the worker where its last run failed for infrastructure reasons: a retry goes elsewhere. */
  private readonly failedOn = new Map<string, string>();
  private readonly cmd: Redis;
  private readonly results: Redis;
  private readonly connection: ReturnType<typeof clusterConnection>;
  private seq = 0;
  /** Jobs submitted in this turn of the event loop, added together by send(). */
  private unsent: Pending[] = [];
  /** BLMPOP (Redis >= 7) takes every waiting message at once; older servers get BLPOP, one at a time. */
  private blmpop = true;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private lastPoll = 0;
  readonly report: ClusterReport = {
    jobs: 0,
    placed: 0,
    resubmitted: 0,
    cancelled: 0,
    bytesFetched: 0,
    bytesUploaded: 0,
    fetchMs: 0,
    runMs: 0,
    uploadMs: 0,
  };

  private constructor(private readonly o: ClusterEngineOptions) {
    this.connection = clusterConnection(o.queueUri);
    this.cmd = new Redis({ ...this.connection, lazyConnect: true });
    this.results = new Redis({ ...this.connection, lazyConnect: true });
    for (const r of [this.cmd, this.results]) r.on('error', () => undefined);
  }

  static async open(o: ClusterEngineOptions): Promise<ClusterEngine> {
    const e = new ClusterEngine(o);
    try {
      // One quick attempt: a wrong address or password fails here with a clear error, before any work.
      const probe = new Redis({
        ...e.connection,
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 1,
      });
      // connect() fails with 'Connection is closed'; the 'error' event before it says why (WRONGPASS ...).
      let why: unknown;
      probe.on('error', (err) => (why ??= err));
      try {
        await probe.connect();
        await probe.ping();
      } catch (err) {
        throw connectError(e.connection, why ?? err);
      } finally {
        probe.disconnect();
      }
      await e.cmd.connect();
      await e.results.connect();
      await e.refreshWorkers();
    } catch (err) {
      await e.close();
      throw err;
    }
    e.loop = e.readResults();
    e.timer = setInterval(() => void e.watch(), HEARTBEAT_MS);
    return e;
  }

  summary(): Record<string, number> {
    return { ...this.report };
  }

  /** Live workers, from the registry (heartbeat within DEAD_AFTER_MS). */
  workers(): WorkerInfo[] {
    return [...this.live.values()];
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: PREFIX });
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  }

  execute(name: string, thunk: Thunk, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    if (this.closed)
      return Promise.reject(new GgError('GG_E_CANCELLED', `thunk ${name} was not run: the cluster engine is closed`));
    const inputs = [...thunk.values, ...thunk.executables].map((i) => ({ name: i.name, size: nameSize(i.name) }));
    return new Promise<ExecutionResult>((resolve, reject) => {
      const abort = opts.abort;
      const p: Pending = {
        jobId: '',
        name,
        tags: thunk.outputs,
        inputs,
        queue: SHARED_QUEUE,
        lastHeard: Date.now(),
        ...(opts.onStarted ? { onStarted: opts.onStarted } : {}),
        resolve,
        reject,
        cleanup: () => undefined,
      };
      if (abort) {
        if (abort.aborted) {
          reject(new GgError('GG_E_CANCELLED', `thunk ${name} was cancelled before it was queued`));
          return;
        }
        const onAbort = (): void => this.cancel(p);
        abort.addEventListener('abort', onAbort, { once: true });
        p.cleanup = () => abort.removeEventListener('abort', onAbort);
      }
      this.submit(p, this.chooseWorker(inputs, opts.avoidWorker ?? this.runningOn(name) ?? this.failedOn.get(name)));
    });
  }

  /** Another of our runs of this thunk is on a worker: a duplicate must go elsewhere. */
  private runningOn(name: string): string | undefined {
    for (const p of this.pending.values()) if (p.name === name) return p.worker ?? p.placedOn;
    return undefined;
  }

  /** A worker that holds most of the input bytes and has a free slot (by our count); else the shared queue. */
  private chooseWorker(inputs: Pending['inputs'], avoid: string | undefined): string | undefined {
    if (avoid !== undefined) {
      // A straggler's duplicate, or a retry after an infrastructure failure: the least busy other worker
      // (the shared queue could hand it straight back to the one to avoid), else the shared queue.
      const others = [...this.live.values()].filter((w) => w.id !== avoid && w.slots > 0).map((w) => w.id);
      others.sort(
        (a, b) =>
          (this.inflight.get(a) ?? 0) / this.live.get(a)!.slots - (this.inflight.get(b) ?? 0) / this.live.get(b)!.slots,
      );
      return others[0];
    }
    const free = [...this.live.values()].filter((w) => (this.inflight.get(w.id) ?? 0) < w.slots).map((w) => w.id);
    if (this.o.placement === false) return undefined;
    return this.placement.choose(inputs, free);
  }

  private submit(p: Pending, worker: string | undefined): void {
    p.jobId = `${this.clientId}-${++this.seq}`;
    p.queue = worker === undefined ? SHARED_QUEUE : workerQueue(worker);
    if (worker !== undefined) {
      p.placedOn = worker;
      this.inflight.set(worker, (this.inflight.get(worker) ?? 0) + 1);
      this.report.placed++;
    } else {
      delete p.placedOn;
    }
    p.lastHeard = Date.now();
    this.pending.set(p.jobId, p);
    this.report.jobs++;
    // Jobs made ready together (a burst of leaves, the dependants of one result) go out in one addBulk per
    // queue: one round trip and one socket write for all of them, instead of one each.
    this.unsent.push(p);
    if (this.unsent.length === 1) setImmediate(() => void this.send());
  }

  private async send(): Promise<void> {
    const batch = this.unsent.filter((p) => this.pending.get(p.jobId) === p); // not cancelled meanwhile
    this.unsent = [];
    const byQueue = new Map<string, Pending[]>();
    for (const p of batch) {
      const list = byQueue.get(p.queue);
      if (list) list.push(p);
      else byQueue.set(p.queue, [p]);
    }
    await Promise.all(
      [...byQueue].map(async ([queue, ps]) => {
        try {
          await this.queue(queue).addBulk(
            ps.map((p) => ({
              name: 'thunk',
              data: { v: 1, thunk: p.name, client: this.clientId } satisfies JobData,
              opts: { jobId: p.jobId, attempts: 1, removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } },
            })),
          );
        } catch {
          // Redis away: the safety poll finds the jobs missing and submits them again.
          for (const p of ps) p.lastHeard = 0;
        }
      }),
    );
  }

  private settle(p: Pending): boolean {
    if (this.pending.get(p.jobId) !== p) return false;
    this.pending.delete(p.jobId);
    p.cleanup();
    if (p.placedOn !== undefined) this.inflight.set(p.placedOn, Math.max(0, (this.inflight.get(p.placedOn) ?? 1) - 1));
    return true;
  }

  private cancel(p: Pending): void {
    if (!this.settle(p)) return;
    this.report.cancelled++;
    p.reject(new GgError('GG_E_CANCELLED', `thunk ${p.name} was cancelled`));
    const q = this.queue(p.queue);
    void q.remove(p.jobId).catch(() => 0);
    void this.cmd.publish(CANCEL_CHANNEL, p.jobId).catch(() => 0);
  }

  private handle(msg: ClientMessage): void {
    const p = this.pending.get(msg.job);
    if (!p) return; // a result for a job we gave up on (cancelled, re-submitted): the first answer stood
    p.lastHeard = Date.now();
    if (msg.t === 'started') {
      p.worker = msg.worker;
      p.onStarted?.(msg.worker);
      return;
    }
    if (msg.t === 'done') {
      let r;
      try {
        r = parseWireResult(msg.result, p.tags);
      } catch (e) {
        if (this.settle(p)) p.reject(e as Error);
        return;
      }
      if (!this.settle(p)) return;
      this.failedOn.delete(p.name);
      this.account(r, p.inputs);
      // The worker recorded the memo (claimReductions): the scheduler need not write it again.
      p.resolve({
        outputs: r.outputs,
        wallMs: r.wallMs,
        log: r.log,
        worker: r.worker,
        stats: r.stats,
        recorded: { signed: r.signed },
      });
      return;
    }
    if (!this.settle(p)) return;
    const err = fromWireError(msg.error, `worker ${p.worker ?? p.placedOn ?? 'unknown'}`);
    const where = p.worker ?? p.placedOn;
    if (err.retryable && where !== undefined) this.failedOn.set(p.name, where);
    p.reject(err);
  }

  private account(r: ReturnType<typeof parseWireResult>, inputs: Pending['inputs']): void {
    const s = r.stats;
    this.report.bytesFetched += s.bytesFetched;
    this.report.bytesUploaded += s.bytesUploaded;
    this.report.fetchMs += s.fetchMs;
    this.report.runMs += s.runMs;
    this.report.uploadMs += s.uploadMs;
    // After the run its cache holds every input (fetched now or already there) and the outputs.
    this.placement.learn(r.worker, [...inputs.map((i) => i.name), ...s.fetched, ...r.outputs.map((o) => o.name)]);
  }

  private async readResults(): Promise<void> {
    const key = resultsKey(this.clientId);
    while (!this.closed) {
      try {
        const got = await this.popResults(key);
        for (const raw of got) {
          let msg: ClientMessage;
          try {
            msg = JSON.parse(raw) as ClientMessage;
          } catch {
            continue; // not ours to understand: ignored
          }
          if (typeof msg === 'object' && msg !== null && typeof msg.job === 'string') this.handle(msg);
        }
      } catch {
        if (!this.closed) await new Promise((r) => setTimeout(r, 200)); // Redis away: wait it out
      }
    }
  }

  /** The messages waiting on our list (at most 1 s of waiting for the first). */
  private async popResults(key: string): Promise<string[]> {
    if (this.blmpop) {
      try {
        const got = await this.results.blmpop(1, 1, key, 'LEFT', 'COUNT', 512);
        return got ? got[1] : [];
      } catch (e) {
        if (!/unknown command/i.test((e as Error).message)) throw e;
        this.blmpop = false;
      }
    }
    const got = await this.results.blpop(key, 1);
    return got ? [got[1]] : [];
  }

  private async refreshWorkers(): Promise<void> {
    const now = Date.now();
    const ids = await this.cmd.zrangebyscore(WORKERS_KEY, now - DEAD_AFTER_MS, '+inf', 'WITHSCORES');
    const pipe = this.cmd.pipeline();
    const list: { id: string; hb: number }[] = [];
    for (let i = 0; i + 1 < ids.length; i += 2) {
      list.push({ id: ids[i]!, hb: Number(ids[i + 1]) });
      pipe.hgetall(workerKey(ids[i]!));
    }
    const replies = list.length > 0 ? ((await pipe.exec()) ?? []) : [];
    const seen = new Set<string>();
    const joined: string[] = [];
    list.forEach(({ id, hb }, i) => {
      const fields = replies[i]?.[1] as Record<string, string> | undefined;
      const info = fields ? parseWorkerInfo(id, fields, hb) : undefined;
      if (info) {
        if (!this.live.has(id)) joined.push(id);
        this.live.set(id, info);
        seen.add(id);
      }
    });
    // A worker seen for the first time: what its cache held when it started (then: learnt from its results).
    if (this.o.placement !== false && joined.length > 0) {
      const p = this.cmd.pipeline();
      for (const id of joined) p.srandmember(workerCacheKey(id), ADVERT_MAX_OBJECTS);
      const held = (await p.exec()) ?? [];
      joined.forEach((id, i) => {
        const names = held[i]?.[1];
        if (Array.isArray(names))
          this.placement.learn(
            id,
            names.filter((n): n is string => typeof n === 'string' && isValidName(n)),
          );
      });
    }
    for (const id of [...this.live.keys()]) {
      if (!seen.has(id)) {
        this.live.delete(id);
        this.placement.forget(id);
      }
    }
  }

  /** Once a heartbeat: who is alive; jobs placed on silent workers move; jobs not heard of are polled. */
  private async watch(): Promise<void> {
    if (this.closed) return;
    try {
      await this.refreshWorkers();
    } catch {
      return; // Redis away
    }
    for (const p of [...this.pending.values()]) {
      if (p.placedOn !== undefined && !this.live.has(p.placedOn)) {
        // Nobody else takes from a worker's own queue, nor checks it for stalled jobs: a job placed on a
        // silent worker, waiting or already running there (killed, frozen), moves to the shared queue. If
        // that worker wakes up and finishes it, its answer is ignored and its memo write loses to the first.
        if (p.worker === undefined)
          void this.queue(p.queue)
            .remove(p.jobId)
            .catch(() => 0);
        this.resubmit(p);
      }
    }
    const now = Date.now();
    const pollAfter = this.o.pollAfterMs ?? 5000;
    if (now - this.lastPoll < pollAfter) return;
    this.lastPoll = now;
    const quiet = [...this.pending.values()].filter((p) => now - p.lastHeard > pollAfter);
    await Promise.all(quiet.map((p) => this.poll(p).catch(() => undefined)));
  }

  /** Submit again under a new job id (the old one is given up: an answer to it is ignored). */
  private resubmit(p: Pending): void {
    if (this.pending.get(p.jobId) !== p) return;
    this.pending.delete(p.jobId);
    if (p.placedOn !== undefined) this.inflight.set(p.placedOn, Math.max(0, (this.inflight.get(p.placedOn) ?? 1) - 1));
    this.report.resubmitted++;
    this.report.jobs--; // the same thunk, counted once
    delete p.worker;
    this.submit(p, undefined);
  }

  /** Ask BullMQ what became of a job we heard nothing about. */
  private async poll(p: Pending): Promise<void> {
    const q = this.queue(p.queue);
    const state = await q.getJobState(p.jobId);
    if (this.pending.get(p.jobId) !== p) return;
    if (state === 'completed') {
      const job = (await q.getJob(p.jobId)) as Job | undefined;
      if (job) this.handle({ t: 'done', job: p.jobId, result: job.returnvalue as never });
    } else if (state === 'failed') {
      const job = (await q.getJob(p.jobId)) as Job | undefined;
      let error: unknown = { code: 'GG_E_INFRA', message: job?.failedReason ?? 'failed', retryable: true };
      try {
        error = JSON.parse(job?.failedReason ?? '') as unknown;
      } catch {
        // BullMQ's own reason (stalled too often): infrastructure
      }
      this.handle({ t: 'failed', job: p.jobId, error: error as never });
    } else if (state === 'unknown') {
      this.resubmit(p); // lost (a Redis restart without persistence): submit it again
    } else {
      p.lastHeard = Date.now(); // waiting or running: BullMQ has it
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const p of [...this.pending.values()]) this.cancel(p);
    // Let the removals and cancel messages go out before the connections close.
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.results.disconnect();
    await this.loop?.catch(() => undefined);
    await this.cmd.quit().catch(() => this.cmd.disconnect());
  }
}
