/** From `--engine lambda=NAME` and its flags to a LambdaEngine, checked before any work. */
import { GgError } from '../../errors.js';
import type { Engine } from '../engine.js';
import { DEFAULT_PRICES } from './cost.js';
import { LAMBDA_DEFAULTS, type LambdaConfig } from './defaults.js';
import { LambdaEngine, type InvokeClient } from './lambda-engine.js';
import { sdkInvokeClient } from './sdk-client.js';

export interface OpenLambdaOptions {
  /** The shared store the function reads inputs from and writes outputs to. */
  storageUri: string | undefined;
  fallback?: Engine;
  client?: InvokeClient;
}

export async function openLambdaEngine(c: LambdaConfig, o: OpenLambdaOptions): Promise<LambdaEngine> {
  const storage = o.storageUri?.trim() ?? '';
  if (!/^(s3|gs):\/\//.test(storage)) {
    throw new GgError('GG_E_USAGE', 'the Lambda engine needs a shared store the function can reach', {
      hint: 'add --storage s3://bucket/prefix?region=... (the function reads inputs from it and writes outputs to it)',
    });
  }
  const client =
    o.client ??
    (await sdkInvokeClient({
      ...(c.region ? { region: c.region } : {}),
      ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    }));
  return new LambdaEngine({
    functionName: c.functionName,
    storage,
    client,
    memoryMb: c.memoryMb,
    tmpBytes: c.tmpMb * 1024 ** 2,
    // A margin for start-up and the network before an unanswered invocation is given up and started afresh.
    invocationTimeoutMs: c.timeoutS * 1000 + Math.min(10_000, c.timeoutS * 500),
    prices: c.prices,
    ...(c.maxCostUsd !== undefined ? { maxCostUsd: c.maxCostUsd } : {}),
    ...(o.fallback ? { fallback: o.fallback } : {}),
  });
}

export { DEFAULT_PRICES, LAMBDA_DEFAULTS, type LambdaConfig };
export { lambdaFunctionOf } from './function-name.js';
