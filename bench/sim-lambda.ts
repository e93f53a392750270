/**
 * The Lambda engine (`gg force --engine lambda=F`) as a model for the simulation core (bench/sim-core.ts),
 * run by `npm run sim` beside the cluster model (bench/sim.ts prints both; docs/SCALING.md).
 *
 * A thunk's way: the client (`gg force`) issues one synchronous invocation (at most clientInvokesPerS) ->
 * a warm execution environment takes it, or a new one starts (cold start; at most `burst` at once then
 * `refillPerS` more per second) and first fetches the toolchain from S3 -> the handler fetches the thunk's
 * inputs from S3, runs it, uploads the output -> the answer returns. S3's per-prefix request rate is one
 * FIFO server shared by every function.
 *
 * Inputs, each named where it comes from (docs/SCALING.md, "Lambda", lists them with sources):
 *   measured here   git's graph size and total thunk time (docs/BENCHMARKS.md: 1,501 thunks, cold force 105.6 s
 *                   on 2 jobs), the toolchain closure a compile needs (gcc 12: 74 MiB in 12 objects, from an
 *                   inferred thunk), gg's per-invocation overhead (bench/lambda.ts, docs/BENCHMARKS.md)
 *   published       Lambda scaling 1,000 new execution environments per 10 s per function, 1,000 concurrent
 *                   executions per account by default; cold start "under 100 ms to over 1 second"; 1,769 MB
 *                   = one vCPU; S3 5,500 GET/s and 3,500 PUT/s per partitioned prefix
 *   assumed         S3 first-byte latency 50 ms, 80 MB/s per function, the split of the measured total over
 *                   compile / assemble / archive / link thunks (below), the client issuing 1,000 invokes/s
 */
import { Server, type BuildShape, type EngineModel, type SimNode, type Sim } from './sim-core.js';

export interface LambdaParams {
  functions: number;
  /** Invocation overhead per thunk (request, handler, answer), seconds. */
  invokeS: number;
  coldInitS: number;
  toolchainBytes: number;
  toolchainObjects: number;
  s3LatencyS: number;
  s3BytesPerS: number;
  s3GetsPerS: number;
  /** New execution environments: this many at once, then this many per second. */
  burst: number;
  refillPerS: number;
  clientInvokesPerS: number;
  memoryGb: number;
  priceGbS: number;
  priceRequest: number;
}

/**
 * git's graph: 470 sources x 3 + 3 archives + 36 links = 1,449 thunks (`gg infer` made 1,501 from git's 509
 * commands; docs/BENCHMARKS.md), 211 CPU-seconds measured on this VM.
 */
export const GIT_SHAPE: BuildShape = {
  sources: 470,
  archives: 3,
  links: 36,
  // 211 CPU-seconds in all: 23.5 s preprocess, 127 s compile, 23.5 s assemble, 3 s archives, 36 s links (an assumed split).
  preprocessS: 0.05,
  compileMeanS: 0.27,
  assembleS: 0.05,
  archiveS: 1.0,
  linkS: 1.0,
  seed: 42,
};

export const LAMBDA: Omit<LambdaParams, 'functions'> = {
  invokeS: 0.035,
  coldInitS: 0.5,
  // An inferred gcc 12 compile thunk's absolute inputs (cc, cc1, their libraries, loader, libc): 12 objects, 74 MiB.
  toolchainBytes: 74 * 1024 ** 2,
  toolchainObjects: 12,
  s3LatencyS: 0.05,
  s3BytesPerS: 80e6,
  s3GetsPerS: 5500,
  burst: 1000,
  refillPerS: 100,
  clientInvokesPerS: 1000,
  memoryGb: 3008 / 1024,
  priceGbS: 0.0000166667,
  priceRequest: 0.0000002,
};

export class LambdaModel implements EngineModel {
  readonly slots: number;
  readonly client: Server;
  readonly s3: Server;
  environments = 0;
  busyS = 0;
  invocations = 0;
  private idle = 0;
  private readonly waiters: ((cold: boolean) => void)[] = [];
  private timerSet = false;
  constructor(
    private readonly sim: Sim,
    private readonly p: LambdaParams,
  ) {
    this.slots = p.functions;
    this.client = new Server(sim, 'client invocations');
    this.s3 = new Server(sim, 'S3 request rate (one prefix)');
  }

  private allowed(): number {
    return Math.min(this.p.functions, this.p.burst + Math.floor(this.sim.now * this.p.refillPerS + 1e-9));
  }

  /** A warm environment, else a new one when the scaling rate allows, else wait for either. */
  private acquire(cb: (cold: boolean) => void): void {
    if (this.idle > 0) {
      this.idle--;
      cb(false);
    } else if (this.environments < this.allowed()) {
      this.environments++;
      cb(true);
    } else {
      this.waiters.push(cb);
      this.armScalingTimer();
    }
  }

  private armScalingTimer(): void {
    if (this.timerSet || this.environments >= this.p.functions) return;
    this.timerSet = true;
    const at = (this.environments + 1 - this.p.burst) / this.p.refillPerS;
    this.sim.after(at - this.sim.now, () => {
      this.timerSet = false;
      while (this.waiters.length > 0 && this.environments < this.allowed()) {
        this.environments++;
        this.waiters.shift()!(true);
      }
      if (this.waiters.length > 0) this.armScalingTimer();
    });
  }

  private release(): void {
    const w = this.waiters.shift();
    if (w) w(false);
    else this.idle++;
  }

  /** `gets` objects from S3: the prefix's request rate (shared), then latency in rounds of 16 in parallel. */
  private fetch(gets: number, then: () => void): void {
    if (gets === 0) return then();
    this.s3.request(gets / this.p.s3GetsPerS, () => this.sim.after(this.p.s3LatencyS * Math.ceil(gets / 16), then));
  }

  start(node: SimNode, done: () => void): void {
    const { sim, p } = this;
    this.invocations++;
    this.client.request(1 / p.clientInvokesPerS, () =>
      this.acquire((cold) => {
        const began = sim.now;
        const run = (): void =>
          this.fetch(node.gets, () =>
            // run, upload the output (one PUT), answer
            sim.after(node.durS + p.s3LatencyS + p.invokeS, () => {
              this.busyS += sim.now - began;
              this.release();
              done();
            }),
          );
        if (!cold) return run();
        sim.after(p.coldInitS + p.toolchainBytes / p.s3BytesPerS, () => this.fetch(p.toolchainObjects, run));
      }),
    );
  }

  costUsd(): number {
    return this.busyS * this.p.memoryGb * this.p.priceGbS + this.invocations * this.p.priceRequest;
  }

  servers(): Server[] {
    return [this.client, this.s3];
  }
}
