/**
 * What the end of `gg infer` puts in place of the placeholders links, archives and binutils steps left
 * (placeKnownOutputs in infer.ts): `knownResult`, the value the memo already holds for a reference, and
 * `OutputStager`, copies of such values made while the build runs, so that the end only renames them over
 * their placeholders. A program the build links stays a placeholder until the build ends (its runs are
 * answered from the memo through it, run-model.ts); copying fribidi's 13 programs into place after its build
 * was ~10 ms of `gg infer`'s main thread on the critical path of a rebuild whose warm time is ~0.25 s.
 * The copies run on libuv's threadpool while the build goes on. A link whose own memo entry names the value is
 * copied early (fribidi's 7 generators); one found only through its rewritten thunk (the programs linking a
 * library placed during the build) only when gcc-model.ts looks that up anyway (`gg infer --force`): the lookup
 * is a thunk decoded, rewritten and named, and doing it twice cost cJSON's 20 test programs more CPU than the
 * end saved.
 *
 * A copy is used only for the value the end finds for the placeholder then (its reference's known result,
 * looked up again); anything else (another value, a failed copy, a store on another file system than the
 * output) is placed from the store as before, and every unused copy is removed.
 */
import fs from 'node:fs';
import { computeName, isThunkName, joinTag, splitTag } from '../../ir/name.js';
import { encodeThunk, parseThunk, rewriteThunk, thunkDependencies } from '../../ir/thunk.js';
import type { LocalStore } from '../../store/local-store.js';

/**
 * The value `ref` reduces to when the memo already holds it, else undefined; nothing runs. As the forcer:
 * the reference's own entry, else (a thunk whose dependencies changed names but not results, e.g. a library
 * that is a real file this time) the entry of the thunk rewritten with its dependencies' known values.
 */
export function knownResult(store: LocalStore, ref: string, depth = 0): string | undefined {
  const { name, tag } = splitTag(ref);
  if (!isThunkName(name)) return store.hasSync(name) ? name : undefined;
  if (depth > 64) return undefined;
  const memo = store.getReductionSync(ref);
  if (memo !== undefined) return knownResult(store, memo, depth + 1);
  let thunk;
  try {
    // Parsed, not validated: the answer is only a memo lookup (as trusted as the memo itself), and a link's
    // thunk names its whole toolchain, whose validation was most of this lookup.
    thunk = parseThunk(store.getSync(name));
  } catch {
    return undefined;
  }
  const deps = thunkDependencies(thunk);
  if (deps.length === 0) return undefined;
  const resolved = new Map<string, string>();
  for (const d of deps) {
    const v = knownResult(store, d, depth + 1);
    if (v === undefined) return undefined;
    resolved.set(d, v);
  }
  const rewritten = computeName(encodeThunk(rewriteThunk(thunk, resolved)));
  const value = store.getReductionSync(joinTag(rewritten, tag));
  return value !== undefined && !isThunkName(splitTag(value).name) && store.hasSync(value) ? value : undefined;
}

interface Staged {
  value: string;
  tmp: string;
  copied: Promise<boolean>;
}

export class OutputStager {
  private readonly staged = new Map<string, Staged>();

  constructor(private readonly store: LocalStore) {}

  /** Starts copying `value` (a blob of the store, verified first) for `file`; a copy staged before is dropped. */
  stage(file: string, value: string): void {
    this.drop(file);
    let src: string;
    try {
      src = this.store.verifiedBlobPath(value);
    } catch {
      return; // missing or corrupt: the end places from the store, which reports it
    }
    const tmp = this.store.tempPath('place');
    // COPYFILE_EXCL: the temp is created, never a planted link or someone else's file
    const copied = new Promise<boolean>((resolve) =>
      fs.copyFile(src, tmp, fs.constants.COPYFILE_EXCL, (e) => resolve(e === null)),
    );
    this.staged.set(file, { value, tmp, copied });
  }

  /**
   * Renames the copy staged for `file` over it with `mode`, when it is a copy of `value`; false (and nothing
   * changed) otherwise: the caller places from the store.
   */
  async place(file: string, value: string, mode: number): Promise<boolean> {
    const s = this.staged.get(file);
    if (s === undefined || s.value !== value) return false;
    this.staged.delete(file);
    try {
      if (!(await s.copied)) throw new Error('copy failed');
      fs.chmodSync(s.tmp, mode);
      fs.renameSync(s.tmp, file); // EXDEV when .gg is on another file system: placed from the store instead
      return true;
    } catch {
      fs.rmSync(s.tmp, { force: true });
      return false;
    }
  }

  /** Removes every copy not placed (waiting for those still being written). */
  async discard(): Promise<void> {
    const left = [...this.staged.keys()];
    await Promise.all(left.map((f) => this.dropWhenCopied(f)));
  }

  private drop(file: string): void {
    void this.dropWhenCopied(file);
  }

  private async dropWhenCopied(file: string): Promise<void> {
    const s = this.staged.get(file);
    if (s === undefined) return;
    this.staged.delete(file);
    await s.copied;
    fs.rmSync(s.tmp, { force: true });
  }
}
