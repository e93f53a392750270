/** `--engine local | cluster[=redis://...]`: which engine runs thunks, and its parameter. */
import { GgError } from '../errors.js';
import { lambdaFunctionOf } from './lambda/function-name.js';

export type EngineSpec =
  { kind: 'local' } | { kind: 'cluster'; queueUri?: string } | { kind: 'lambda'; functionName: string };

export const ENGINE_KINDS = ['local', 'cluster', 'lambda=FUNCTION'] as const;

export function parseEngineSpec(text: string): EngineSpec {
  const eq = text.indexOf('=');
  const kind = eq < 0 ? text : text.slice(0, eq);
  const param = eq < 0 ? undefined : text.slice(eq + 1);
  if (kind === 'local' && param === undefined) return { kind: 'local' };
  const functionName = lambdaFunctionOf(text);
  if (functionName !== undefined) return { kind: 'lambda', functionName };
  if (kind === 'cluster') {
    if (param !== undefined && !/^rediss?:\/\//.test(param)) {
      throw new GgError(
        'GG_E_USAGE',
        `the cluster engine's queue must be a redis:// or rediss:// URI, not '${param.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')}'`,
        {
          hint: 'use --engine cluster (the queue lives in the --storage Redis) or --engine cluster=redis://[user:pass@]host:port',
        },
      );
    }
    return param ? { kind: 'cluster', queueUri: param } : { kind: 'cluster' };
  }
  throw new GgError('GG_E_USAGE', `unknown engine '${text}'`, {
    hint: `available engines: ${ENGINE_KINDS.join(', ')} (cluster=redis://host:port for a queue elsewhere)`,
  });
}
