/**
 * What a run on Lambda costs, as it goes: billed GB-seconds x price + requests x price (AWS's published model;
 * prices are options, defaults are the us-east-1 x86 list prices). `--max-cost` refuses a launch when what is
 * spent, plus what is in flight, plus this invocation's expected cost, would pass the cap.
 */
import { GgError } from '../../errors.js';

export interface LambdaPrices {
  /** USD per GB-second of billed duration (x86, us-east-1: 0.0000166667). */
  gbSecond: number;
  /** USD per request (0.20 per million). */
  request: number;
}

export const DEFAULT_PRICES: LambdaPrices = { gbSecond: 0.0000166667, request: 0.0000002 };
/** Before any invocation has finished, a thunk is expected to take this long. */
const FIRST_GUESS_MS = 1000;

export class CostMeter {
  private billedMs = 0;
  private invocations = 0;
  private finished = 0;
  private inFlight = 0;

  constructor(
    readonly memoryMb: number,
    readonly prices: LambdaPrices = DEFAULT_PRICES,
    readonly maxUsd?: number,
  ) {}

  private usdFor(ms: number, requests: number): number {
    return (this.memoryMb / 1024) * (ms / 1000) * this.prices.gbSecond + requests * this.prices.request;
  }

  /** Spent so far (every request counts, billed time of every answered one). */
  get spentUsd(): number {
    return this.usdFor(this.billedMs, this.invocations);
  }

  private expectedMs(): number {
    return this.finished > 0 ? this.billedMs / this.finished : FIRST_GUESS_MS;
  }

  /** Take one launch; throws GG_E_COST_LIMIT if the estimate would pass --max-cost. Pair with `settle`. */
  reserve(): void {
    if (this.maxUsd !== undefined) {
      const estimate = this.spentUsd + (this.inFlight + 1) * this.usdFor(this.expectedMs(), 1);
      if (estimate > this.maxUsd) {
        throw new GgError(
          'GG_E_COST_LIMIT',
          `stopped launching thunks on Lambda: the cost estimate $${estimate.toFixed(4)} would pass --max-cost $${this.maxUsd.toFixed(2)} (spent $${this.spentUsd.toFixed(4)})`,
          {
            hint: 'everything that finished is kept: run the same gg force again (with a higher --max-cost) to continue where this stopped',
          },
        );
      }
    }
    this.inFlight++;
    this.invocations++;
  }

  /** An invocation ended: its billed duration if known (undefined = failed before running: the request still counts). */
  settle(billedMs: number | undefined): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (billedMs !== undefined) {
      this.billedMs += billedMs;
      this.finished++;
    }
  }

  /** What `billedMs` of one invocation (or one request that never ran, undefined) costs. */
  invocationUsd(billedMs: number | undefined): number {
    return this.usdFor(billedMs ?? 0, 1);
  }

  summary(): string {
    return `lambda ~$${this.spentUsd.toFixed(4)}${this.maxUsd !== undefined ? ` of $${this.maxUsd.toFixed(2)}` : ''}`;
  }
}
