/** Choosing the isolation for a run: bubblewrap by default, `none` only when asked (never silently). */
import { GgError } from '../errors.js';
import { BwrapSandbox } from './bwrap-sandbox.js';
import { FakechrootSandbox } from './fakechroot-sandbox.js';
import { NoSandbox } from './no-sandbox.js';
import type { FileNamer, Sandbox } from './sandbox.js';

export type SandboxKind = 'bwrap' | 'none' | 'fakechroot';

export interface SandboxPlaces {
  /** Staged jail roots; on the store's file system (they are hard links to blobs), e.g. .gg/cache/roots. */
  rootsDir: string;
}

export function parseSandboxKind(s: string): SandboxKind {
  if (s === 'bwrap' || s === 'none' || s === 'fakechroot') return s;
  throw new GgError('GG_E_USAGE', `unknown sandbox '${s}'`, {
    hint: 'use --sandbox=bwrap (default), --sandbox=none, or --sandbox=fakechroot (no namespaces: the Lambda executor)',
  });
}

/** `bwrap` checks once that a jail really runs here and fails with GG_E_SANDBOX_UNAVAILABLE otherwise. */
export async function createSandbox(kind: SandboxKind, files: FileNamer, places: SandboxPlaces): Promise<Sandbox> {
  if (kind === 'none') return new NoSandbox(files);
  if (kind === 'fakechroot') return FakechrootSandbox.create();
  return BwrapSandbox.create({ rootsDir: places.rootsDir, files });
}
