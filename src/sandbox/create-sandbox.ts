/** Choosing the isolation for a run: bubblewrap by default, `none` only when asked (never silently). */
import { GgError } from '../errors.js';
import type { HashCache } from '../store/hash-cache.js';
import { NoSandbox } from './no-sandbox.js';
import type { Sandbox } from './sandbox.js';

export type SandboxKind = 'bwrap' | 'none';

export function parseSandboxKind(s: string): SandboxKind {
  if (s === 'bwrap' || s === 'none') return s;
  throw new GgError('GG_E_USAGE', `unknown sandbox '${s}'`, { hint: 'use --sandbox=bwrap (default) or --sandbox=none' });
}

export async function createSandbox(kind: SandboxKind, hashCache: HashCache): Promise<Sandbox> {
  if (kind === 'none') return new NoSandbox(hashCache);
  throw new GgError('GG_E_SANDBOX_UNAVAILABLE', 'the bubblewrap sandbox is not available in this build', {
    hint: 'run with --sandbox=none to run thunks unisolated',
  });
}
