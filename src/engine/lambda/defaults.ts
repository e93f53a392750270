/** The Lambda engine's settings and their defaults (what gg lambda deploy creates). */
import type { LambdaPrices } from './cost.js';

export interface LambdaConfig {
  functionName: string;
  region?: string;
  endpoint?: string;
  /** The function's memory (MB) and /tmp (MB), as deployed (gg lambda deploy uses the same defaults). */
  memoryMb: number;
  tmpMb: number;
  /** The function's timeout, seconds: an invocation unanswered for this long (+ a margin) is retried. */
  timeoutS: number;
  prices: LambdaPrices;
  maxCostUsd?: number;
}

export const LAMBDA_DEFAULTS = { memoryMb: 3008, tmpMb: 2048, timeoutS: 300 } as const;
