/**
 * What `gg force` is given: placeholder files (replaced by their outputs afterwards), thunk names, or thunk
 * files (collected first, as a convenience the original lacked: it hashed the file's name instead).
 */
import fs from 'node:fs';
import { GgError } from '../errors.js';
import { isValidName, isThunkContent, splitTag } from '../ir/name.js';
import { readPlaceholder, readPlaceholderFile } from '../ir/placeholder.js';
import { decodeThunk, type Thunk } from '../ir/thunk.js';
import type { LocalStore } from '../store/local-store.js';
import { openRegularFile } from '../ir/regular-file.js';
import type { Store } from '../store/store.js';

export interface Target {
  /** As given on the command line. */
  spec: string;
  /** The reference to force. */
  ref: string;
  /** The placeholder file to replace with the output. */
  file?: string;
  /** A file that is already an ordinary file (built before): nothing to do. */
  upToDate?: boolean;
  /** device:inode of the placeholder, so hard links between placeholders survive forcing. */
  inode?: string;
  /** The placeholder's mode, which its output gets. */
  mode?: number;
}

export function resolveTarget(spec: string, local: LocalStore): Target {
  if (isValidName(splitTag(spec).name) && !fs.existsSync(spec)) return { spec, ref: spec };
  let ref: string | undefined;
  let st: fs.Stats;
  try {
    ({ ref, stat: st } = readPlaceholderFile(spec));
  } catch (e) {
    if (e instanceof GgError && e.code === 'GG_E_FILE_NOT_FOUND') {
      throw new GgError('GG_E_FILE_NOT_FOUND', `target '${spec}' is neither a file nor an object name`, {
        hint: 'give placeholder files (as left by gg infer or create-thunk --placeholder) or thunk names',
      });
    }
    throw e;
  }
  if (ref !== undefined)
    return { spec, ref, file: spec, mode: st.mode & 0o7777, ...(st.nlink > 1 ? { inode: `${st.dev}:${st.ino}` } : {}) };
  const head = Buffer.alloc(11);
  const { fd } = openRegularFile(spec);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  if (isThunkContent(head.subarray(0, n))) return { spec, ref: local.putFileSync(spec).name };
  return { spec, ref: '', file: spec, upToDate: true };
}

/** Replace `file` with a hard link to `existing` (temp link + rename). */
export function linkOutput(existing: string, file: string): void {
  const tmp = `${file}.gg-out-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  fs.linkSync(existing, tmp);
  fs.renameSync(tmp, file);
}

/**
 * Put a forced output where its placeholder was, with the placeholder's mode (`mode`, else read now): the
 * store's getToFile writes a temp file beside it, gives it the mode and renames it over the placeholder.
 */
export async function placeOutput(store: Store, file: string, value: string, mode?: number): Promise<void> {
  await store.getToFile(value, file, mode ?? fs.statSync(file).mode & 0o7777);
}

export interface DescribedTarget {
  /** The thunk's name (the reference without its tag). */
  name: string;
  thunk: Thunk;
  /** What the memo says the reference reduced to, if it was forced (read when asked). */
  reduction: () => string | undefined;
}

/** `gg describe`: the thunk a name or a placeholder file refers to, as the local store holds it. */
export function describeTarget(spec: string, local: LocalStore): DescribedTarget {
  let ref = spec;
  if (!isValidName(splitTag(spec).name) || fs.existsSync(spec)) {
    const fromFile = readPlaceholder(spec);
    if (fromFile === undefined)
      throw new GgError('GG_E_PLACEHOLDER_INVALID', `${spec} is not a placeholder`, {
        hint: 'give a thunk name or a placeholder file',
      });
    ref = fromFile;
  }
  const name = splitTag(ref).name;
  return { name, thunk: decodeThunk(local.getSync(name)), reduction: () => local.getReductionSync(ref) };
}
