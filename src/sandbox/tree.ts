/**
 * Walking and removing a thunk's run directory, which its program shaped: any depth (a 3,000-deep tree
 * is longer than PATH_MAX, so neither recursion nor full paths may be relied on), any entry type.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** What an entry costs against the output limit beyond its bytes: roughly an inode and a directory entry. */
export const ENTRY_COST = 256;
/** A directory costs a block. */
export const DIR_COST = 4096;

const LONG_PATH = 1024;

export interface TreeUsage {
  /** Bytes the output limit counts: file contents (each inode once), names, link targets, per-entry costs. */
  bytes: number;
  entries: number;
}

/**
 * Usage of everything under `dir` owned by `uid` (inputs are root's and so not counted). Iterative; a path
 * too long to name from here (ENAMETOOLONG) sends the whole count to find(1), which walks by descriptor.
 */
export function treeUsage(dir: string, uid: number): TreeUsage {
  const usage: TreeUsage = { bytes: 0, entries: 0 };
  const seen = new Set<bigint | number>();
  const stack: string[] = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    // Each lookup walks the whole path again: past this length find(1), which walks by descriptor, is faster.
    if (d.length > LONG_PATH) return treeUsageByFind(dir, uid);
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return treeUsageByFind(dir, uid);
      continue; // removed while we looked
    }
    for (const name of names) {
      const p = path.join(d, name);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(p, { throwIfNoEntry: false });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return treeUsageByFind(dir, uid);
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) stack.push(p);
      if (st.uid !== uid) continue;
      add(
        usage,
        seen,
        st.ino,
        st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : 'o',
        st.size,
        Buffer.byteLength(name),
      );
    }
  }
  return usage;
}

function add(
  usage: TreeUsage,
  seen: Set<bigint | number>,
  ino: number,
  type: string,
  size: number,
  nameBytes: number,
): void {
  usage.entries++;
  usage.bytes += ENTRY_COST + nameBytes;
  if (type === 'd') usage.bytes += DIR_COST;
  else if (type === 'l')
    usage.bytes += size; // the target's length
  else if (type === 'f' && !seen.has(ino)) {
    seen.add(ino);
    usage.bytes += size;
  }
}

function treeUsageByFind(dir: string, uid: number): TreeUsage {
  const r = spawnSync('find', [dir, '-mindepth', '1', '-printf', '%U %i %y %s %f\\0'], {
    maxBuffer: 1024 ** 3,
    encoding: 'buffer',
  });
  const usage: TreeUsage = { bytes: 0, entries: 0 };
  const seen = new Set<bigint | number>();
  const out = r.stdout ?? Buffer.alloc(0);
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== 0) continue;
    const rec = out.subarray(start, i).toString('latin1');
    start = i + 1;
    const m = /^(\d+) (\d+) (\S) (\d+) ([\s\S]*)$/.exec(rec);
    if (!m || Number(m[1]) !== uid) continue;
    add(usage, seen, Number(m[2]), m[3]!, Number(m[4]), Buffer.byteLength(m[5]!, 'latin1'));
  }
  // If find could not run we know nothing: report the tree as over any limit rather than under it.
  if (r.error || r.status === null) usage.bytes = Number.MAX_SAFE_INTEGER;
  return usage;
}

/** rm -rf that works at any depth: fs.rmSync first, rm(1) (which walks by descriptor) when that fails. */
export function removeTree(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
    return;
  } catch {
    // too deep or too long for fs.rmSync
  }
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', p], { stdio: 'ignore' });
  if (r.status !== 0 && fs.existsSync(p)) throw new Error(`could not remove ${p}`);
}
