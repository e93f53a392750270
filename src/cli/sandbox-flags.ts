/**
 * The execution and storage flags shared by the commands that force (`force`, `verify`, `map`, `test`): jobs,
 * sandbox, limits, the store; declaring and parsing only, so each means the same on every command.
 */
import type { Command } from 'commander';
import { GgError } from '../errors.js';
import { defaultJobs, type RuntimeOptions } from '../runtime.js';
import { parseSandboxKind, type SandboxKind } from '../sandbox/sandbox-kind.js';
import type { SandboxLimits } from '../sandbox/sandbox.js';
import { parseIntOption } from './errors.js';
import { MAX_TIMEOUT_MS } from '../ir/thunk.js';
import { readMemoKey } from '../store/memo-signer.js';
import { stderr } from './stdio.js';

/** What withExecutionOptions and withStorageOptions declare, plus the engine and progress flags front ends share. */
export interface RunFlags extends LimitFlags, StorageFlags {
  jobs: number;
  engine: string;
  sandbox: string;
  status: boolean;
  verbose?: boolean;
}

/** What withStorageOptions declares. */
export interface StorageFlags {
  storage?: string;
  storageReadOnly?: boolean;
  memoKeyFile?: string;
}

export interface LimitFlags {
  timeout: number;
  memoryLimit?: number;
  outputLimit?: number;
  pidsLimit?: number;
}

/** The kernel's largest pid_max: no more processes can exist. */
const MAX_COUNT = 4_194_304;
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes, with an optional binary suffix: 4096, 512k, 100M, 2G. */
export function parseByteSize(flag: string): (v: string) => number {
  return (v: string) => {
    const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(v.trim());
    const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new GgError('GG_E_USAGE', `${flag} wants a size in bytes (e.g. 4096, 512M, 2G), got '${v}'`);
    return n;
  };
}

export function parseCount(flag: string): (v: string) => number {
  return (v: string) => {
    const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0 || n > MAX_COUNT)
      throw new GgError('GG_E_USAGE', `${flag} wants an integer from 1 to ${MAX_COUNT}, got '${v.slice(0, 40)}'`);
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

/** Declare -j, --sandbox, -T and the limit flags on a command that runs thunks. */
export function withExecutionOptions(c: Command): Command {
  return c
    .option('-j, --jobs <n>', 'thunks run at once', parseIntOption('--jobs', 65_536), defaultJobs())
    .option('--sandbox <kind>', 'bwrap (default) or none (unisolated; only when asked)', 'bwrap')
    .option(
      '-T, --timeout <ms>',
      "hard limit: kill a thunk running longer than this many ms (default none; a thunk's own timeout is only a straggler hint)",
      parseIntOption('--timeout', MAX_TIMEOUT_MS),
      0,
    )
    .option('--memory-limit <bytes>', 'per-thunk memory limit (e.g. 2G; default 4G)', parseByteSize('--memory-limit'))
    .option(
      '--output-limit <bytes>',
      'per-thunk limit on the bytes it writes (default 4G)',
      parseByteSize('--output-limit'),
    )
    .option('--pids-limit <n>', 'per-thunk limit on processes (default 512)', parseCount('--pids-limit'));
}

export const STORAGE_HELP =
  'shared store: redis://[user:pass@]host:port[/db], rediss://..., s3://bucket[/prefix]?region=..&endpoint=.., gs://bucket (default: $GG_STORAGE_URI, else the local .gg)';

/** Declare --storage, --storage-read-only and --memo-key-file on a command that forces. */
export function withStorageOptions(c: Command): Command {
  return c
    .option('--storage <uri>', STORAGE_HELP)
    .option('--storage-read-only', 'never write to the shared store (a reader of a cache trusted writers fill)')
    .option(
      '--memo-key-file <file>',
      'key for signed memo entries on the shared store: sign what is written, ignore unsigned entries (default: $GG_MEMO_KEY_FILE)',
    );
}

/** --storage, else $GG_STORAGE_URI, else undefined (the local .gg): one rule for every command that forces. */
export function storageUriFromFlags(o: { storage?: string }): string | undefined {
  const uri = o.storage ?? process.env['GG_STORAGE_URI'];
  return uri?.trim() ? uri : undefined;
}

/** The sandbox asked for; running unisolated is said on every run (unless the output is JSON for machines). */
export function sandboxFromFlags(o: { sandbox: string; json?: boolean }): SandboxKind {
  const kind = parseSandboxKind(o.sandbox);
  if (kind === 'none' && !o.json) stderr.write('gg: warning: --sandbox=none: thunks run unisolated on this host\n');
  return kind;
}

/** The store's options from its flags (--memo-key-file, else $GG_MEMO_KEY_FILE): gg-force-and-run passes `{}`. */
export function storageFromFlags(o: StorageFlags): Pick<RuntimeOptions, 'storageUri' | 'memoKey' | 'storageReadOnly'> {
  const storageUri = storageUriFromFlags(o);
  const memoKey = readMemoKey(o.memoKeyFile ?? process.env['GG_MEMO_KEY_FILE']);
  return {
    ...(storageUri ? { storageUri } : {}),
    ...(memoKey ? { memoKey } : {}),
    storageReadOnly: o.storageReadOnly === true,
  };
}

/** What every forcing command hands openRuntime from its shared flags: the sandbox, its limits, the store. */
export function runtimeFromFlags(
  o: LimitFlags & StorageFlags & { sandbox: string; json?: boolean },
): Pick<RuntimeOptions, 'sandbox' | 'limits' | 'storageUri' | 'memoKey' | 'storageReadOnly'> {
  const sandbox = sandboxFromFlags(o);
  return { sandbox, limits: limitsFromFlags(o), ...storageFromFlags(o) };
}
