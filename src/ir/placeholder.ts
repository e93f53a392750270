/**
 * Placeholders stand in the work tree for outputs not yet computed: a header line, the thunk reference, and
 * for object/archive/library files a linker-script comment so that a real linker reading one does not choke.
 * Running a shell-form placeholder (`#!/usr/bin/env gg-force-and-run`) forces it and executes the result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError, isGgError } from '../errors.js';
import { openRegularFile } from './regular-file.js';
import { isValidName, splitTag } from './name.js';

export const SHEBANG_HEADER = '#!/usr/bin/env gg-force-and-run';
export const LINKER_HEADER = 'OUTPUT_FORMAT("elf64-x86-64")/*';
const MAX_PLACEHOLDER_BYTES = 512;
/** Where placeholders are read, one past the limit (a memoized force reads one per target; parsed at once). */
const placeholderBuffer = Buffer.allocUnsafe(MAX_PLACEHOLDER_BYTES + 1);

export type PlaceholderKind = 'shell' | 'linker-script';

const LINKER_EXT = new Set(['so', 'a', 'o', 's', 'S', 'sho', 'lo']);

/** gg's rule: object-like files by extension (including versioned `.so.1.2`) get the linker-script form. */
export function placeholderKindFor(filename: string): PlaceholderKind {
  const base = path.basename(filename);
  const ext = base.includes('.') ? base.slice(base.lastIndexOf('.') + 1) : '';
  if (LINKER_EXT.has(ext) || /\.so(\.\d+)+$/.test(base)) return 'linker-script';
  return 'shell';
}

export function placeholderContent(ref: string, kind: PlaceholderKind): string {
  return kind === 'linker-script' ? `${LINKER_HEADER}\n${ref}\n*/` : `${SHEBANG_HEADER}\n${ref}\n`;
}

/** Write atomically (temp + rename) so a build never sees half a placeholder. */
export function writePlaceholder(file: string, ref: string, kind: PlaceholderKind = placeholderKindFor(file)): void {
  const tmp = `${file}.gg-tmp-${process.pid}`;
  const write = (): void =>
    fs.writeFileSync(tmp, placeholderContent(ref, kind), { mode: kind === 'shell' ? 0o755 : 0o644, flag: 'wx' });
  try {
    write();
  } catch (e) {
    // a temp file left by an earlier run of this pid: removed only then (an rm first cost each write a lookup)
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    fs.rmSync(tmp, { force: true });
    write();
  }
  if (kind === 'shell') fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, file);
}

/** The reference a placeholder's bytes hold, or undefined when they are not a placeholder. */
export function parsePlaceholder(data: Buffer): string | undefined {
  if (data.length > MAX_PLACEHOLDER_BYTES) return undefined;
  const text = data.toString('latin1');
  let rest: string;
  if (text.startsWith(SHEBANG_HEADER + '\n')) rest = text.slice(SHEBANG_HEADER.length + 1);
  else if (text.startsWith(LINKER_HEADER + '\n')) rest = text.slice(LINKER_HEADER.length + 1);
  else return undefined;
  const ref = rest.split('\n', 1)[0]!.trim();
  if (!isValidName(splitTag(ref).name)) {
    throw new GgError('GG_E_PLACEHOLDER_INVALID', `placeholder holds an invalid name '${ref.slice(0, 80)}'`, {
      hint: 're-create the placeholder (gg create-thunk --placeholder, or re-run gg infer)',
    });
  }
  return ref;
}

/** Read a file and return its placeholder reference, or undefined if it is an ordinary file. */
export function readPlaceholder(file: string): string | undefined {
  return readPlaceholderFile(file).ref;
}

/** readPlaceholder, plus the file's stat from the same open (its mode and links, without a second lookup). */
export function readPlaceholderFile(file: string): { ref: string | undefined; stat: fs.Stats } {
  let fd: number;
  let stat: fs.Stats;
  try {
    ({ fd, stat } = openRegularFile(file));
  } catch (e) {
    if (isGgError(e, 'GG_E_FILE_NOT_FOUND'))
      throw new GgError('GG_E_FILE_NOT_FOUND', `no such file: ${file}`, {
        hint: 'give a placeholder file or a thunk name',
      });
    throw e;
  }
  try {
    const n = fs.readSync(fd, placeholderBuffer, 0, placeholderBuffer.length, 0);
    return { ref: parsePlaceholder(placeholderBuffer.subarray(0, n)), stat };
  } finally {
    fs.closeSync(fd);
  }
}
