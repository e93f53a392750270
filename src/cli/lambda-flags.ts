/** `gg force` flags of the Lambda engine: declaring and parsing only (the engine is in src/engine/lambda). */
import type { Command } from 'commander';
import { GgError } from '../errors.js';
import { lambdaFunctionOf } from '../engine/lambda/function-name.js';
import { DEFAULT_PRICES } from '../engine/lambda/cost.js';
import { LAMBDA_DEFAULTS, type LambdaConfig } from '../engine/lambda/defaults.js';
import { parseIntOption } from './errors.js';

export interface LambdaFlags {
  engine: string;
  fallbackEngine?: string;
  maxCost?: number;
  lambdaRegion?: string;
  lambdaEndpoint?: string;
  lambdaMemory: number;
  lambdaTmp: number;
  lambdaTimeout: number;
  priceGbSecond: number;
  priceRequest: number;
}

function parseUsd(flag: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || v.trim() === '')
      throw new GgError('GG_E_USAGE', `${flag} wants an amount in US dollars (e.g. 2.50), got '${v}'`);
    return n;
  };
}

export function withLambdaOptions(c: Command): Command {
  return c
    .option('--fallback-engine <engine>', 'where thunks that cannot run on the engine go (local)')
    .option(
      '--max-cost <usd>',
      'Lambda: stop launching thunks when the cost estimate would pass this',
      parseUsd('--max-cost'),
    )
    .option('--lambda-region <region>', "Lambda: the function's region (default: the AWS SDK's)")
    .option('--lambda-endpoint <url>', 'Lambda: another Invoke API endpoint (a local test server)')
    .option(
      '--lambda-memory <MB>',
      "Lambda: the function's memory, for the cost estimate",
      parseIntOption('--lambda-memory'),
      LAMBDA_DEFAULTS.memoryMb,
    )
    .option(
      '--lambda-tmp <MB>',
      "Lambda: the function's /tmp size; thunks with more input go to the fallback engine",
      parseIntOption('--lambda-tmp'),
      LAMBDA_DEFAULTS.tmpMb,
    )
    .option(
      '--lambda-timeout <s>',
      "Lambda: the function's timeout; an invocation unanswered past it is retried afresh",
      parseIntOption('--lambda-timeout'),
      LAMBDA_DEFAULTS.timeoutS,
    )
    .option(
      '--price-gb-second <usd>',
      'Lambda: price per GB-second',
      parseUsd('--price-gb-second'),
      DEFAULT_PRICES.gbSecond,
    )
    .option('--price-request <usd>', 'Lambda: price per request', parseUsd('--price-request'), DEFAULT_PRICES.request);
}

/** The Lambda configuration if `--engine lambda=NAME`, else undefined (and no Lambda flag may be set). */
export function lambdaFromFlags(o: LambdaFlags): LambdaConfig | undefined {
  const functionName = lambdaFunctionOf(o.engine);
  if (o.fallbackEngine !== undefined && o.fallbackEngine !== 'local') {
    throw new GgError('GG_E_USAGE', `unknown fallback engine '${o.fallbackEngine}'`, {
      hint: 'use --fallback-engine local',
    });
  }
  if (functionName === undefined) {
    if (o.maxCost !== undefined)
      throw new GgError('GG_E_USAGE', '--max-cost applies to the Lambda engine only', {
        hint: 'gg force --engine lambda=NAME --max-cost USD ...',
      });
    return undefined;
  }
  return {
    functionName,
    ...(o.lambdaRegion ? { region: o.lambdaRegion } : {}),
    ...(o.lambdaEndpoint ? { endpoint: o.lambdaEndpoint } : {}),
    memoryMb: o.lambdaMemory,
    tmpMb: o.lambdaTmp,
    timeoutS: o.lambdaTimeout,
    prices: { gbSecond: o.priceGbSecond, request: o.priceRequest },
    ...(o.maxCost !== undefined ? { maxCostUsd: o.maxCost } : {}),
  };
}
