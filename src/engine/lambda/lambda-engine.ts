/**
 * The Lambda engine: one synchronous invocation of the gg function per thunk (protocol.ts), through
 * @aws-sdk/client-lambda. The scheduler, memo and retries of program failures stay in `gg force`; this engine
 * adds what the service needs:
 *   - exponential backoff with jitter on throttling (429); invocations in flight are capped by the
 *     scheduler's --jobs (a thunk waiting out a throttle keeps its slot, so a throttled run slows down);
 *   - function errors and invocations that pass their deadline are retried on a fresh invocation; the
 *     abandoned one may still finish, harmlessly: the function records no memo, and its outputs are the
 *     same content-addressed objects;
 *   - thunks that cannot fit (request payload over Lambda's limit, inputs over the function's /tmp) go to
 *     the fallback engine (--fallback-engine local), or fail with GG_E_TOO_BIG when there is none;
 *   - the running cost estimate, and --max-cost refusing launches that would pass it (cost.ts).
 */
import { GgError, isGgError } from '../../errors.js';
import { nameSize } from '../../ir/name.js';
import type { Thunk } from '../../ir/thunk.js';
import type { Engine, ExecuteOptions, ExecutionResult } from '../engine.js';
import { CostMeter, type LambdaPrices } from './cost.js';
import { makeRequest, parseResponse, responseError } from './protocol.js';

/** Lambda's synchronous invocation payload limit (request and response): 6 MB. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Room left on /tmp for outputs and the toolchain's temporary files, as a share of what the inputs take. */
const TMP_HEADROOM = 1.5;

/** The part of LambdaClient we use (so a test can count calls without replacing the client). */
export interface InvokeClient {
  invoke(functionName: string, payload: Uint8Array, abort: AbortSignal): Promise<InvokeOutcome>;
  destroy(): void;
}

export type InvokeOutcome =
  | { kind: 'ok'; payload: Uint8Array; billedMs?: number }
  | { kind: 'function-error'; message: string; billedMs?: number }
  | { kind: 'throttled'; message: string }
  | { kind: 'too-large'; message: string };

export interface LambdaEngineOptions {
  functionName: string;
  /** URI of the shared store as the function must open it (s3://...). */
  storage: string;
  client: InvokeClient;
  memoryMb: number;
  /** The function's /tmp (ephemeral storage) in bytes. */
  tmpBytes: number;
  /** Give up on an invocation after this long and start a fresh one (the function's timeout + a margin). */
  invocationTimeoutMs: number;
  /** Invocations per thunk for function errors and timeouts (throttling does not count). */
  attempts?: number;
  prices?: LambdaPrices;
  maxCostUsd?: number;
  fallback?: Engine;
  /** Backoff base for throttling, ms (doubled per throttle, full jitter, capped at 20 s). */
  backoffMs?: number;
  onNotice?: (text: string) => void;
}

export interface LambdaStats {
  invocations: number;
  throttled: number;
  functionErrors: number;
  timeouts: number;
  fallbacks: number;
  coldStarts: number;
  bytesFetched: number;
  bytesUploaded: number;
}

export class LambdaEngine implements Engine {
  readonly name: string;
  /** A straggler's duplicate runs in another execution environment: the scheduler may speculate. */
  readonly speculative = true;
  readonly cost: CostMeter;
  readonly stats: LambdaStats = {
    invocations: 0,
    throttled: 0,
    functionErrors: 0,
    timeouts: 0,
    fallbacks: 0,
    coldStarts: 0,
    bytesFetched: 0,
    bytesUploaded: 0,
  };
  private readonly attempts: number;

  constructor(private readonly o: LambdaEngineOptions) {
    this.name = `lambda=${o.functionName}`;
    this.cost = new CostMeter(o.memoryMb, o.prices, o.maxCostUsd);
    this.attempts = o.attempts ?? 3;
  }

  /** Why the thunk cannot run on the function, or undefined if it fits. */
  misfit(name: string, thunk: Thunk, payloadBytes: number): string | undefined {
    if (payloadBytes > MAX_PAYLOAD_BYTES)
      return `its request is ${payloadBytes} bytes, over Lambda's ${MAX_PAYLOAD_BYTES}-byte payload limit`;
    const inputs = new Map<string, number>();
    for (const i of [...thunk.values, ...thunk.executables]) inputs.set(i.name, nameSize(i.name));
    const bytes = [...inputs.values()].reduce((a, b) => a + b, 0);
    // Inputs sit in the cache and again as links in the run (same inode), plus outputs and temporaries.
    if (bytes * TMP_HEADROOM > this.o.tmpBytes)
      return `its inputs take ${(bytes / 1024 ** 2).toFixed(0)} MiB, too much for the function's ${(this.o.tmpBytes / 1024 ** 2).toFixed(0)} MiB /tmp (thunk ${name})`;
    return undefined;
  }

  async execute(name: string, thunk: Thunk, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    const payload = Buffer.from(
      JSON.stringify(makeRequest(this.o.storage, name, thunk, thunk.timeout ? { timeoutMs: thunk.timeout } : {})),
    );
    const misfit = this.misfit(name, thunk, payload.length);
    if (misfit) return this.fallBack(name, thunk, misfit, opts);
    opts.onStarted?.(undefined);
    return this.invokeWithRetries(name, thunk, payload, opts);
  }

  private async fallBack(name: string, thunk: Thunk, why: string, opts: ExecuteOptions): Promise<ExecutionResult> {
    if (!this.o.fallback) {
      throw new GgError('GG_E_TOO_BIG', `thunk ${name} cannot run on Lambda: ${why}`, {
        hint: 'run such thunks here with --fallback-engine local, or give the function more ephemeral storage (gg lambda deploy --tmp-size)',
      });
    }
    this.stats.fallbacks++;
    return this.o.fallback.execute(name, thunk, opts);
  }

  private async invokeWithRetries(
    name: string,
    thunk: Thunk,
    payload: Buffer,
    opts: ExecuteOptions,
  ): Promise<ExecutionResult> {
    const abort = opts.abort;
    // This thunk's share of the estimate (every invocation it took), for the status line's running total.
    let thunkUsd = 0;
    const settle = (billedMs: number | undefined): void => {
      this.cost.settle(billedMs);
      thunkUsd += this.cost.invocationUsd(billedMs);
    };
    let throttles = 0;
    let lastProblem = '';
    for (let attempt = 1; attempt <= this.attempts;) {
      if (abort?.aborted) throw new GgError('GG_E_CANCELLED', `thunk ${name} was not launched: the run is stopping`);
      this.cost.reserve();
      this.stats.invocations++;
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), this.o.invocationTimeoutMs);
      const onAbort = (): void => deadline.abort();
      abort?.addEventListener('abort', onAbort, { once: true });
      const started = performance.now();
      let outcome: InvokeOutcome;
      try {
        outcome = await this.o.client.invoke(this.o.functionName, payload, deadline.signal);
      } catch (e) {
        settle(undefined);
        if (abort?.aborted) throw new GgError('GG_E_CANCELLED', `thunk ${name} was stopped (--fail-fast)`);
        if (deadline.signal.aborted) {
          // Given up on; if it still finishes, its outputs are the same objects and nothing reads its answer.
          this.stats.timeouts++;
          lastProblem = `no answer within ${this.o.invocationTimeoutMs} ms`;
          attempt++;
          continue;
        }
        if (isGgError(e) && !e.retryable) throw e;
        lastProblem = (e as Error).message;
        attempt++;
        await sleep(this.backoff(attempt));
        continue;
      } finally {
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
      }
      const wallMs = performance.now() - started;
      switch (outcome.kind) {
        case 'throttled':
          settle(undefined);
          this.stats.throttled++;
          throttles++;
          await sleep(this.backoff(throttles));
          continue; // not an attempt: the function never ran
        case 'too-large':
          settle(undefined);
          return this.fallBack(name, thunk, outcome.message, opts);
        case 'function-error':
          settle(outcome.billedMs ?? wallMs);
          this.stats.functionErrors++;
          lastProblem = outcome.message;
          attempt++;
          continue;
        case 'ok': {
          settle(outcome.billedMs ?? wallMs);
          let json: unknown;
          try {
            json = JSON.parse(Buffer.from(outcome.payload).toString('utf8'));
          } catch {
            lastProblem = 'an answer that is not JSON';
            attempt++;
            continue;
          }
          let r;
          try {
            r = parseResponse(json, thunk);
          } catch (e) {
            lastProblem = (e as Error).message;
            attempt++;
            continue;
          }
          if (!r.ok) throw responseError(name, r.error);
          if (r.cold) this.stats.coldStarts++;
          this.stats.bytesFetched += r.bytesFetched;
          this.stats.bytesUploaded += r.bytesUploaded;
          return { outputs: r.outputs, wallMs, log: r.log, costUsd: thunkUsd };
        }
      }
    }
    throw new GgError(
      'GG_E_LAMBDA',
      `thunk ${name} failed on ${this.attempts} fresh invocations of ${this.o.functionName}; last: ${lastProblem}`,
      {
        hint: "gg lambda doctor checks the function, its role and the bucket; the function's CloudWatch log has the details",
      },
    );
  }

  private backoff(n: number): number {
    const cap = Math.min(20_000, (this.o.backoffMs ?? 100) * 2 ** Math.min(n, 12));
    return Math.random() * cap;
  }

  summary(): Record<string, unknown> {
    return { ...this.stats, cost_usd: Number(this.cost.spentUsd.toFixed(6)) };
  }

  /** For the status line. */
  statusText(): string {
    const s = this.stats;
    return `${this.cost.summary()}, ${s.invocations} invocations${s.throttled ? `, ${s.throttled} throttled` : ''}${s.fallbacks ? `, ${s.fallbacks} local` : ''}`;
  }

  async close(): Promise<void> {
    this.o.client.destroy(); // the fallback belongs to whoever opened it
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
