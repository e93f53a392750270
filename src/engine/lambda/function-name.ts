/** `--engine lambda=NAME`: the function's name, checked. */
import { GgError } from '../../errors.js';

/** `lambda=NAME` -> NAME; undefined for another engine. */
export function lambdaFunctionOf(engine: string): string | undefined {
  if (engine === 'lambda') {
    throw new GgError('GG_E_USAGE', "--engine lambda needs the function's name", {
      hint: 'gg force --engine lambda=gg-ts --storage s3://bucket/prefix ...',
    });
  }
  if (!engine.startsWith('lambda=')) return undefined;
  const name = engine.slice('lambda='.length);
  if (!/^[A-Za-z0-9_:.-]{1,170}$/.test(name)) {
    throw new GgError('GG_E_USAGE', `'${name}' is not a Lambda function name or ARN`, {
      hint: 'letters, digits, - and _ (or a function ARN)',
    });
  }
  return name;
}
