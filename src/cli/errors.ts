/** The one place errors become output and exit codes: `error[GG_E_...]: message` + hint. */
import { GgError } from '../errors.js';

export function reportError(e: unknown, stream: NodeJS.WriteStream = process.stderr): number {
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

export function parseIntOption(flag: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new GgError('GG_E_USAGE', `${flag} wants a non-negative integer, got '${v}'`);
    return n;
  };
}
