/**
 * The cluster engine (`gg force --engine cluster`): every thunk ready to run becomes one BullMQ job naming
 * it; `gg worker`s on any number of hosts run them and report back. The client moves no intermediate
 * object: workers fetch inputs from the shared store and upload outputs to it.
 *
 * Robustness, on top of BullMQ's leases and stalled-job recovery:
 *  - results come back on this client's own pub/sub channel (resultsChannel): no command per result; a safety
 *    poll reads the job's state from BullMQ when nothing was heard for a while (a message lost while the
 *    subscription was down, a Redis restart: all open jobs are polled when it is back) and re-submits a lost job;
 *  - a job placed on a worker's own queue is moved to the shared queue when that worker goes silent;
 *  - cancelling (a straggler's loser, Ctrl-C, --fail-fast) removes a waiting job and tells the worker
 *    running it to stop (CANCEL_CHANNEL).
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue, type Job } from 'bullmq';
import { GgError } from '../../errors.js';
import { computeName, isValidName, nameSize } from '../../ir/name.js';
import { encodeThunk, type Thunk } from '../../ir/thunk.js';
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
  INLINE_THUNK_BYTES,
  MAX_BATCH,
  earlyChannel,
  fromWireError,
  isMessage,
  isSafeId,
  parseWireResult,
  parseWorkerInfo,
  resultsChannel,
  unpackMessages,
  workerCacheKey,
  workerKey,
  workerQueue,
  type ClientMessage,
  type JobData,
  type WorkerInfo,
} from './protocol.js';
import { clusterConnection, connectError } from './redis-connection.js';

/** Longest a run is held back to fill a job while every worker slot has work queued (send()). */
const HOLD_MS = 20;

export interface ClusterEngineOptions {
  queueUri: string;
  /** Data-aware placement on (default) or off (every job on the shared queue: for measuring). */
  placement?: boolean;
  /** Nothing heard of a job for this long: ask BullMQ for its state (default 5 s). */
  pollAfterMs?: number;
}

export interface ClusterReport {
  /** BullMQ jobs sent; each carries one or more thunks (`runs`). */
  jobs: number;
  /** Thunk runs sent (a re-submitted run counts once). */
  runs: number;
  /** Runs placed on a worker's own queue (it holds their inputs). */
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

/** One run of a thunk: a slot of a BullMQ job (`batch`, at `index`) until it settles or is given up. */
interface Run {
  name: string;
  tags: readonly string[];
  inputs: { name: string; size: number }[];
  /** The thunk's bytes (base64) to send in the job, when small (INLINE_THUNK_BYTES); else null. */
  inline: string | null;
  /** The worker whose own queue it goes to (placement, a duplicate's other worker); else the shared queue. */
  target?: string;
  batch?: Batch;
  index: number;
  /** The worker running it (it said 'started'). */
  worker?: string;
  onStarted?: (worker: string | undefined) => void;
  resolve: (r: ExecutionResult) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
  settled?: boolean;
}

/** A BullMQ job: the runs sent together to one queue. */
interface Batch {
  id: string;
  queue: string;
  placedOn?: string;
  /** The worker that took the job, and when we heard of it. */
  worker?: string;
  tookAt: number;
  lastHeard: number;
  runs: (Run | undefined)[];
  open: number;
  /** Placed on a worker with a free slot: announced to it beside the add (earlyChannel). */
  early?: boolean;
}

/** A small thunk's bytes for the job itself, if they encode back to its name (the worker checks them too). */
function inlineBytes(name: string, thunk: Thunk): string | null {
  const bytes = encodeThunk(thunk);
  return bytes.length <= INLINE_THUNK_BYTES && computeName(bytes) === name ? bytes.toString('base64') : null;
}

export class ClusterEngine implements Engine {
  readonly name = 'cluster';
  readonly speculative = true;
  /** Small thunks travel in the job (Run.inline): the scheduler may dispatch them before it stores them. */
  readonly carriesThunkBytes = INLINE_THUNK_BYTES;
  readonly clientId = `c${crypto.randomBytes(6).toString('hex')}`;
  private readonly queues = new Map<string, Queue>();
  private readonly batches = new Map<string, Batch>();
  private readonly live = new Map<string, WorkerInfo>();
  private readonly inflight = new Map<string, number>();
  private readonly placement = new Placement();
  /** thunk -> the worker where its last run failed for infrastructure reasons: a retry goes elsewhere. */
  private readonly failedOn = new Map<string, string>();
  private readonly cmd: Redis;
  private readonly results: Redis;
  private readonly connection: ReturnType<typeof clusterConnection>;
  private seq = 0;
  /** Runs submitted in this turn of the event loop, sent together by send(). */
  private unsent: Run[] = [];
  private sendScheduled = false;
  /** Runs for the shared queue held back to fill a job (send()), and the timer that sends them anyway. */
  private held: Run[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  /** Runs sent and not yet started anywhere: the backlog that sets how many thunks a job carries. */
  private waiting = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPoll = 0;
  readonly report: ClusterReport = {
    jobs: 0,
    runs: 0,
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
      e.results.on('message', (_ch: string, payload: string) => e.onMessages(payload));
      await e.results.subscribe(resultsChannel(e.clientId));
      // Back after a drop (ioredis subscribes again): what was published meanwhile is lost, so every open job
      // is asked about at once rather than after pollAfterMs.
      e.results.on('ready', () => void e.pollAll());
      await e.refreshWorkers();
    } catch (err) {
      await e.close();
      throw err;
    }
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
      const run: Run = {
        name,
        tags: thunk.outputs,
        inputs,
        inline: inlineBytes(name, thunk),
        index: 0,
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
        const onAbort = (): void => this.cancel(run);
        abort.addEventListener('abort', onAbort, { once: true });
        run.cleanup = () => abort.removeEventListener('abort', onAbort);
      }
      this.submit(run, this.chooseWorker(inputs, opts.avoidWorker ?? this.runningOn(name) ?? this.failedOn.get(name)));
    });
  }

  /** Another of our runs of this thunk is on a worker: a duplicate must go elsewhere. */
  private runningOn(name: string): string | undefined {
    for (const b of this.batches.values())
      for (const r of b.runs) if (r?.name === name) return r.worker ?? b.placedOn ?? b.worker;
    return undefined;
  }

  /** A worker that holds most of the input bytes and has a free slot (by our count); else the shared queue. */
  private chooseWorker(inputs: Run['inputs'], avoid: string | undefined): string | undefined {
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

  private submit(run: Run, worker: string | undefined): void {
    if (worker !== undefined) {
      run.target = worker;
      this.inflight.set(worker, (this.inflight.get(worker) ?? 0) + 1);
      this.report.placed++;
    } else {
      delete run.target;
    }
    delete run.batch;
    this.report.runs++;
    this.waiting++;
    // Runs made ready together (a burst of leaves, the dependants of one result) go out together: one
    // addBulk per queue, and several thunks per job when the backlog is deep (send()).
    this.unsent.push(run);
    // The only run anywhere waiting to start (a chain's next step): nothing to batch it with, so it goes now
    // rather than a turn of the event loop later.
    if (this.waiting === 1 && this.unsent.length === 1 && this.held.length === 0 && !this.sendScheduled) {
      void this.send();
      return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    setImmediate(() => void this.send());
  }

  /**
   * Sends what was submitted (and what was held back). How many thunks one job carries: 1 while the runs
   * waiting to start are fewer than twice the workers' slots (a chain, a build's critical path, a large
   * cluster: nothing waits behind another run, every slot gets its own); up to MAX_BATCH as that backlog grows
   * to MAX_BATCH times the slots (every slot has that much queued anyway, and a job costs Redis and the worker
   * ~10 commands whatever it carries). Batching on the backlog alone (not the slots) would leave slots idle: a
   * 1-slot worker runs a job's thunks one after another. A remainder too small for a full job is then held back
   * while every slot has a run queued, until more come, the backlog shrinks, or HOLD_MS pass.
   */
  private async send(): Promise<void> {
    this.sendScheduled = false;
    clearTimeout(this.holdTimer);
    const fresh = this.unsent.filter((r) => !r.settled);
    this.unsent = [];
    // Runs placed when submitted go one per job: they were placed because a slot of that worker is free.
    const placedNow = fresh.filter((r) => r.target !== undefined);
    const shared = [...this.held.filter((r) => !r.settled), ...fresh.filter((r) => r.target === undefined)];
    this.held = [];
    let slots = 0;
    for (const w of this.live.values()) slots += w.slots;
    const unit = Math.max(1, slots);
    const size = Math.max(1, Math.min(MAX_BATCH, Math.floor(this.waiting / unit)));
    // Runs sent earlier and still waiting to start (the queues' depth without this send's).
    const queued = this.waiting - shared.length - placedNow.length;
    let n = shared.length;
    if (size > 1 && queued >= unit && n % size !== 0) {
      this.held = shared.slice(n - (n % size));
      n -= n % size;
      this.holdTimer = setTimeout(() => this.schedule(), HOLD_MS);
    }
    const { byWorker, rest } = this.placeBacklog(shared.slice(0, n), size);
    const jobs = new Map<string, Batch[]>();
    const add = (queue: string, runs: Run[], per: number): void => {
      if (runs.length === 0) return;
      let list = jobs.get(queue);
      if (!list) jobs.set(queue, (list = []));
      for (let i = 0; i < runs.length; i += per) list.push(this.batch(queue, runs.slice(i, i + per)));
    };
    add(SHARED_QUEUE, rest, size);
    for (const [worker, runs] of byWorker) add(workerQueue(worker), runs, size);
    for (const r of placedNow) {
      add(workerQueue(r.target!), [r], 1);
      r.batch!.early = true;
    }
    await Promise.all([...jobs].map(([queue, batches]) => this.addJobs(queue, batches)));
  }

  /**
   * Placement with a deep backlog (jobs of `size` thunks, every slot with work queued): a run whose input bytes
   * a worker mostly holds goes to that worker's own queue, in jobs with others placed there, while that queue
   * holds less than its share of the backlog (its slots x `size` runs); the rest go to the shared queue.
   */
  private placeBacklog(runs: Run[], size: number): { byWorker: Map<string, Run[]>; rest: Run[] } {
    const byWorker = new Map<string, Run[]>();
    if (size <= 1 || this.o.placement === false) return { byWorker, rest: runs };
    const room = (w: string): number => (this.live.get(w)?.slots ?? 0) * size - (this.inflight.get(w) ?? 0);
    const open = [...this.live.keys()].filter((w) => room(w) > 0);
    const rest: Run[] = [];
    for (const r of runs) {
      const w = open.length > 0 ? this.placement.choose(r.inputs, open) : undefined;
      if (w === undefined) {
        rest.push(r);
        continue;
      }
      r.target = w;
      this.inflight.set(w, (this.inflight.get(w) ?? 0) + 1);
      this.report.placed++;
      let list = byWorker.get(w);
      if (!list) byWorker.set(w, (list = []));
      list.push(r);
      if (room(w) <= 0) open.splice(open.indexOf(w), 1);
    }
    return { byWorker, rest };
  }

  private batch(queue: string, runs: Run[]): Batch {
    const b: Batch = {
      id: `${this.clientId}-${++this.seq}`,
      queue,
      ...(runs[0]!.target !== undefined ? { placedOn: runs[0]!.target } : {}),
      tookAt: 0,
      lastHeard: Date.now(),
      runs,
      open: runs.length,
    };
    runs.forEach((r, k) => {
      r.batch = b;
      r.index = k;
    });
    this.batches.set(b.id, b);
    this.report.jobs++;
    return b;
  }

  private async addJobs(queue: string, batches: Batch[]): Promise<void> {
    const jobs = batches.map((b) => ({
      name: 'thunks',
      data: {
        v: 2,
        thunks: b.runs.map((r) => r!.name),
        client: this.clientId,
        ...(b.runs.some((r) => r!.inline !== null) ? { data: b.runs.map((r) => r!.inline) } : {}),
      } satisfies JobData,
      opts: { jobId: b.id, attempts: 1, removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } },
    }));
    // The worker may start an announced job before BullMQ hands it over: the notice goes first.
    for (const [k, b] of batches.entries())
      if (b.early && b.placedOn !== undefined)
        void this.cmd
          .publish(earlyChannel(b.placedOn), JSON.stringify({ job: b.id, data: jobs[k]!.data }))
          .catch(() => 0);
    try {
      // One job (a chain's next step) goes by add: no pipeline around its one script call.
      if (jobs.length === 1) await this.queue(queue).add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
      else await this.queue(queue).addBulk(jobs);
    } catch {
      // Redis away: the safety poll finds the jobs missing and submits them again.
      for (const b of batches) b.lastHeard = 0;
    }
  }

  /** Take a run out of its job (settled, cancelled, given up): false if it was not there any more. */
  private settle(run: Run): boolean {
    if (run.settled) return false;
    run.settled = true;
    run.cleanup();
    this.detach(run);
    return true;
  }

  private detach(run: Run): void {
    const b = run.batch;
    if (run.worker === undefined) this.waiting = Math.max(0, this.waiting - 1);
    if (run.target !== undefined) this.inflight.set(run.target, Math.max(0, (this.inflight.get(run.target) ?? 1) - 1));
    if (!b || b.runs[run.index] !== run) return;
    b.runs[run.index] = undefined;
    if (--b.open === 0) this.batches.delete(b.id);
  }

  private cancel(run: Run): void {
    const b = run.batch;
    const taken = b?.worker !== undefined;
    if (!this.settle(run)) return;
    this.report.cancelled++;
    run.reject(new GgError('GG_E_CANCELLED', `thunk ${run.name} was cancelled`));
    if (!b) return; // not sent yet: send() skips it
    // A job nobody took, with nothing left to run, is removed; a running thunk is stopped where it runs.
    if (b.open === 0 && !taken)
      void this.queue(b.queue)
        .remove(b.id)
        .catch(() => 0);
    void this.cmd.publish(CANCEL_CHANNEL, `${b.id}/${run.index}`).catch(() => 0);
  }

  private handle(msg: ClientMessage): void {
    const b = this.batches.get(msg.job);
    if (!b) return; // a result for a job we gave up on (cancelled, re-submitted): the first answer stood
    b.lastHeard = Date.now();
    if (msg.t === 'took') {
      b.worker = msg.worker;
      b.tookAt = Date.now();
      return;
    }
    if (msg.i === undefined) {
      if (msg.t !== 'failed') return;
      // The job itself failed (a lease lost too often, a payload the worker refused): every run still in it.
      for (const r of [...b.runs]) if (r) this.fail(r, msg.error);
      return;
    }
    const run = b.runs[msg.i];
    if (!run) return;
    if (msg.t === 'started') {
      if (run.worker === undefined) this.waiting = Math.max(0, this.waiting - 1);
      run.worker = msg.worker;
      if (this.held.length > 0) this.schedule(); // the queues ran a little lower: maybe time to send
      if (b.worker === undefined) {
        b.worker = msg.worker;
        b.tookAt = Date.now();
      }
      run.onStarted?.(msg.worker);
      return;
    }
    if (msg.t === 'failed') {
      this.fail(run, msg.error);
      return;
    }
    let r;
    try {
      r = parseWireResult(msg.result, run.tags);
    } catch (e) {
      if (this.settle(run)) run.reject(e as Error);
      return;
    }
    if (!this.settle(run)) return;
    this.failedOn.delete(run.name);
    this.account(r, run.inputs);
    // The worker recorded the memo (claimReductions): the scheduler need not write it again.
    run.resolve({
      outputs: r.outputs,
      wallMs: r.wallMs,
      log: r.log,
      worker: r.worker,
      stats: r.stats,
      recorded: { signed: r.signed },
    });
  }

  private fail(run: Run, error: unknown): void {
    const where = run.worker ?? run.batch?.worker ?? run.target;
    if (!this.settle(run)) return;
    const err = fromWireError(error, `worker ${where ?? 'unknown'}`);
    if (err.retryable && where !== undefined) this.failedOn.set(run.name, where);
    run.reject(err);
  }

  private account(r: ReturnType<typeof parseWireResult>, inputs: Run['inputs']): void {
    const s = r.stats;
    this.report.bytesFetched += s.bytesFetched;
    this.report.bytesUploaded += s.bytesUploaded;
    this.report.fetchMs += s.fetchMs;
    this.report.runMs += s.runMs;
    this.report.uploadMs += s.uploadMs;
    // After the run its cache holds every input (fetched now or already there) and the outputs.
    this.placement.learn(r.worker, [...inputs.map((i) => i.name), ...s.fetched, ...r.outputs.map((o) => o.name)]);
  }

  private onMessages(payload: string): void {
    for (const msg of unpackMessages(payload)) if (isMessage(msg)) this.handle(msg);
  }

  /** Every open job's state from BullMQ (the subscription was down: its messages may be lost). */
  private async pollAll(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.batches.values()].map((b) => this.poll(b).catch(() => undefined)));
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

  /** Once a heartbeat: who is alive; jobs held by silent workers move; jobs not heard of are polled. */
  private async watch(): Promise<void> {
    if (this.closed) return;
    try {
      await this.refreshWorkers();
    } catch {
      return; // Redis away
    }
    const now = Date.now();
    for (const b of [...this.batches.values()]) {
      // A job placed on a silent worker (waiting or running: nobody else takes from its queue or checks it
      // for stalled jobs), or taken by a worker that went silent since (killed, frozen, cut off: its thunks
      // still waiting for a slot there would wait for BullMQ's lease to run out): its runs go to the shared
      // queue again. If that worker wakes up and finishes them, its answers are ignored and its memo writes
      // lose to the first.
      const placedGone = b.placedOn !== undefined && !this.live.has(b.placedOn);
      const takerGone = b.worker !== undefined && !this.live.has(b.worker) && now - b.tookAt > DEAD_AFTER_MS;
      if (!placedGone && !takerGone) continue;
      if (b.worker === undefined)
        void this.queue(b.queue)
          .remove(b.id)
          .catch(() => 0);
      this.resubmit(b);
    }
    const pollAfter = this.o.pollAfterMs ?? 5000;
    if (now - this.lastPoll < pollAfter) return;
    this.lastPoll = now;
    const quiet = [...this.batches.values()].filter((b) => now - b.lastHeard > pollAfter);
    await Promise.all(quiet.map((b) => this.poll(b).catch(() => undefined)));
  }

  /** Send a job's open runs again, in a new job (the old one is given up: an answer to it is ignored). */
  private resubmit(b: Batch): void {
    if (this.batches.get(b.id) !== b) return;
    this.batches.delete(b.id);
    for (const run of b.runs) {
      if (!run) continue;
      this.detach(run);
      this.report.resubmitted++;
      this.report.runs--; // the same run, counted once
      delete run.worker;
      this.submit(run, undefined);
    }
  }

  /** Ask BullMQ what became of a job we heard nothing about. */
  private async poll(b: Batch): Promise<void> {
    const q = this.queue(b.queue);
    const state = await q.getJobState(b.id);
    if (this.batches.get(b.id) !== b) return;
    if (state === 'completed') {
      const job = (await q.getJob(b.id)) as Job | undefined;
      const outcomes: unknown = job?.returnvalue;
      b.runs.forEach((_, i) => {
        const o = Array.isArray(outcomes) ? (outcomes[i] as Record<string, unknown> | undefined) : undefined;
        if (o && typeof o === 'object' && 'result' in o)
          this.handle({ t: 'done', job: b.id, i, result: o['result'] as never });
        else
          this.handle({
            t: 'failed',
            job: b.id,
            i,
            error: (o && typeof o === 'object' && 'error' in o
              ? o['error']
              : { code: 'GG_E_INFRA', message: 'the job finished without a result for it', retryable: true }) as never,
          });
      });
    } else if (state === 'failed') {
      const job = (await q.getJob(b.id)) as Job | undefined;
      let error: unknown = { code: 'GG_E_INFRA', message: job?.failedReason ?? 'failed', retryable: true };
      try {
        error = JSON.parse(job?.failedReason ?? '') as unknown;
      } catch {
        // BullMQ's own reason (stalled too often): infrastructure
      }
      this.handle({ t: 'failed', job: b.id, error: error as never });
    } else if (state === 'unknown') {
      this.resubmit(b); // lost (a Redis restart without persistence): submit it again
    } else if (state === 'active' && b.worker === undefined) {
      // Taken, and its taker's word not heard (a worker holds 'took' back for 20 ms, and may have been frozen
      // or killed meanwhile): BullMQ knows who took it. A taker gone silent loses it, as in watch().
      const by = ((await q.getJob(b.id)) as Job | undefined)?.processedBy;
      if (this.batches.get(b.id) !== b) return;
      if (isSafeId(by) && !this.live.has(by)) this.resubmit(b);
      else b.lastHeard = Date.now();
    } else {
      b.lastHeard = Date.now(); // waiting or running: BullMQ has it
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.holdTimer);
    for (const r of [...this.unsent, ...this.held]) this.cancel(r);
    for (const b of [...this.batches.values()]) for (const r of b.runs) if (r) this.cancel(r);
    // Let the removals and cancel messages go out before the connections close.
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.results.disconnect();
    await this.cmd.quit().catch(() => this.cmd.disconnect());
  }
}
