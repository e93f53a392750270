/** The sandbox limit flags shared by `gg force` and `gg verify`: parsing only. */
import { GgError } from '../errors.js';
import type { SandboxLimits } from '../sandbox/sandbox.js';

export interface LimitFlags {
  timeout: number;
  memoryLimit?: number;
  outputLimit?: number;
  pidsLimit?: number;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes, with an optional binary suffix: 4096, 512k, 100M, 2G. */
export function parseByteSize(flag: string): (v: string) => number {
  return (v: string) => {
    const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(v.trim());
    const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
    if (!Number.isSafeInteger(n) || n <= 0) throw new GgError('GG_E_USAGE', `${flag} wants a size in bytes (e.g. 4096, 512M, 2G), got '${v}'`);
    return n;
  };
}

export function parseCount(flag: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new GgError('GG_E_USAGE', `${flag} wants a positive integer, got '${v}'`);
    return n;
  };
}

export function limitsFromFlags(o: LimitFlags): Partial<SandboxLimits> {
  return {
    ...(o.timeout ? { timeoutMs: o.timeout } : {}),
    ...(o.memoryLimit ? { memoryBytes: o.memoryLimit } : {}),
    ...(o.outputLimit ? { outputBytes: o.outputLimit } : {}),
    ...(o.pidsLimit ? { maxProcesses: o.pidsLimit } : {}),
  };
}
