/** Choosing the isolation for a run: bubblewrap by default, `none` only when asked (never silently). */
import { BwrapSandbox } from './bwrap-sandbox.js';
import { FakechrootSandbox } from './fakechroot-sandbox.js';
import { jailPlaces, type JailPlaces } from './jail-home.js';
import { LazySandbox } from './lazy-sandbox.js';
import { NoSandbox } from './no-sandbox.js';
import type { FileNamer, Sandbox } from './sandbox.js';

import type { SandboxKind } from './sandbox-kind.js';

export { parseSandboxKind, type SandboxKind } from './sandbox-kind.js';

/** `bwrap` checks once that a jail really runs here and fails with GG_E_SANDBOX_UNAVAILABLE otherwise. */
export async function createSandbox(kind: SandboxKind, files: FileNamer, places: JailPlaces): Promise<Sandbox> {
  if (kind === 'none') return new NoSandbox(files);
  if (kind === 'fakechroot') return FakechrootSandbox.create();
  return BwrapSandbox.create({
    rootsDir: places.rootsDir,
    files,
    ...(places.scratchDir ? { scratchDir: places.scratchDir } : {}),
    ...(places.notice ? { notice: places.notice } : {}),
  });
}

/**
 * The sandbox of an engine whose objects live in `cacheDir`, set up when the first thunk runs. A jail's
 * directories go where a thunk cannot learn the store's host path from them (jail-home.ts); they are
 * chosen (and made) only then too.
 */
export function lazySandbox(kind: SandboxKind, files: FileNamer, cacheDir: string): LazySandbox {
  let places: JailPlaces | undefined;
  const placesOnce = (): JailPlaces => (places ??= jailPlaces(cacheDir));
  return new LazySandbox(
    kind,
    () => createSandbox(kind, files, placesOnce()),
    kind === 'bwrap' ? () => placesOnce().scratchDir : undefined,
  );
}
