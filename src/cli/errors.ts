/** The one place errors become output and exit codes: `error[GG_E_...]: message` + hint. */
import { GgError } from '../errors.js';
import { stderr, type TextSink } from './stdio.js';

export function reportError(e: unknown, stream: TextSink = stderr): number {
  const err =
    e instanceof GgError
      ? e
      : new GgError('GG_E_INTERNAL', e instanceof Error ? (e.stack ?? e.message) : String(e), {
          hint: 'this is a bug in gg-ts; please report it with the command you ran',
        });
  stream.write(`error[${err.code}]: ${err.message}\n`);
  if (err.hint) stream.write(`  hint: ${err.hint}\n`);
  return err.exitCode;
}

/** Wrap a command handler: any error is reported and sets the exit code. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void> | number | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (e) {
      process.exitCode = reportError(e);
    }
  };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A non-negative integer of at most `max`, range-checked where it is read (a larger one is an error, never wrapped). */
export function parseIntOption(flag: string, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n > max)
      throw new GgError('GG_E_USAGE', `${flag} wants an integer from 0 to ${max}, got '${v.slice(0, 40)}'`);
    return n;
  };
}
