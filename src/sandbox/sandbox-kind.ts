/** The isolation a run asks for (its parsing apart from the sandboxes: the flags are read on every start). */
import { GgError } from '../errors.js';

export type SandboxKind = 'bwrap' | 'none' | 'fakechroot';

export function parseSandboxKind(s: string): SandboxKind {
  if (s === 'bwrap' || s === 'none' || s === 'fakechroot') return s;
  throw new GgError('GG_E_USAGE', `unknown sandbox '${s}'`, {
    hint: 'use --sandbox=bwrap (default), --sandbox=none, or --sandbox=fakechroot (no namespaces: the Lambda executor)',
  });
}
