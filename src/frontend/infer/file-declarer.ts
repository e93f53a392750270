/**
 * How a file the build names becomes a thunk input. Files under the project root are declared by their
 * name relative to the root (the thunk's working directory stands for the root); files outside it (system
 * headers, the toolchain) and files the build names by absolute path are declared at that absolute path.
 * A file that is still a placeholder is declared as the output of its thunk, so the graph links up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parsePlaceholder } from '../../ir/placeholder.js';
import type { ThunkInput } from '../../ir/thunk.js';
import { storeHostFiles, type HostFiles } from '../../store/host-pool.js';
import type { LocalStore } from '../../store/local-store.js';
import { real } from './model.js';

export interface DeclaredFile {
  kind: 'value' | 'thunk';
  input: ThunkInput;
  /** The path to write in the thunk's argv (relative to the thunk's cwd, or absolute). */
  argPath: string;
}

const PLACEHOLDER_MAX = 512;
/** A path with an empty, `.` or `..` part, or a trailing slash. */
const NOT_NORMAL = /\/\.{0,2}(?:\/|$)/;

/** The placeholder reference a file holds, or undefined; reads at most a few hundred bytes. */
export function placeholderRef(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(PLACEHOLDER_MAX + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    if (n > PLACEHOLDER_MAX) return undefined;
    return parsePlaceholder(buf.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

export class FileDeclarer {
  /** Files outside the root (system headers, libraries) do not change during one infer run. */
  private readonly outside = new Map<string, string>();
  /** The same for their stat states (only those the hash cache names) and their declarations. */
  private readonly outsideStamps = new Map<string, { st: fs.BigIntStats; name: string }>();
  private readonly outsideInputs = new Map<string, ThunkInput>();
  /** Blobs known to be in the store during this run. */
  private readonly stored = new Set<string>();

  /** The root and a slash (the root is absolute and normalized). */
  private readonly rootPrefix: string;

  /** `files`: how files outside the root reach the store (the user's pool of host files, when there is one). */
  constructor(
    private readonly store: LocalStore,
    readonly root: string,
    private readonly files: HostFiles = storeHostFiles(store),
  ) {
    this.rootPrefix = `${path.resolve(root)}/`;
  }

  /** The thunk cwd for a build directory, or a fallback when the build runs outside the root. */
  cwdFor(dir: string): string {
    const rel = path.relative(this.root, dir);
    if (rel.startsWith('..') || path.isAbsolute(rel))
      real('the build runs outside the project root', `${dir} (root ${this.root})`);
    return rel;
  }

  /** Relative-to-root name of an absolute path, or undefined if it lies outside the root. */
  underRoot(abs: string): string | undefined {
    // A normalized path (no empty, `.` or `..` part) needs no path.relative, which resolves both paths
    // against the cwd: a replayed compile asks this of every file it checks.
    if (this.rootPrefix !== '//' && abs.startsWith('/') && !NOT_NORMAL.test(abs))
      return abs.startsWith(this.rootPrefix) ? abs.slice(this.rootPrefix.length) : undefined;
    const rel = path.relative(this.root, abs);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
    return rel;
  }

  /**
   * Declare `p` as the build named it from `cwd`. With `relocatable`, an absolute path under the root is
   * rewritten to a relative one (link and archive inputs, whose spelling does not reach the output).
   */
  declare(p: string, cwd: string, opts: { relocatable?: boolean } = {}): DeclaredFile {
    const abs = path.resolve(cwd, p);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      return real('an input does not exist', p);
    }
    if (!st.isFile()) real('an input is not a regular file', p);
    const rel = this.underRoot(abs);
    let filename: string;
    let argPath = p;
    if (path.isAbsolute(p)) {
      if (rel !== undefined && opts.relocatable) {
        filename = rel;
        argPath = path.relative(cwd, abs) || path.basename(abs);
      } else filename = path.normalize(p);
    } else {
      if (rel === undefined) real('an input outside the root named by a relative path', p);
      filename = rel;
    }
    const ref = st.size <= PLACEHOLDER_MAX ? placeholderRef(abs) : undefined;
    if (ref !== undefined) {
      if (path.isAbsolute(filename)) real('a placeholder named by an absolute path', p);
      return { kind: 'thunk', input: { name: ref, filename }, argPath };
    }
    const name = rel === undefined ? this.files.put(abs) : this.store.putFileSync(abs).name;
    return { kind: 'value', input: { name, filename }, argPath };
  }

  /** A file's stat and the name its hash cache (the pool's for files outside the root) has for that state. */
  stamped(abs: string): { st: fs.BigIntStats; name: string } | undefined {
    if (this.underRoot(abs) !== undefined) return this.store.hashCache.stamped(abs);
    let known = this.outsideStamps.get(abs);
    if (known === undefined) {
      known = this.files.stamped(abs);
      if (known !== undefined) this.outsideStamps.set(abs, known);
    }
    return known;
  }

  /** Name of a file's content: stat-keyed, and once per run for files outside the root. */
  nameOf(abs: string): string {
    const outside = this.underRoot(abs) === undefined;
    if (outside) {
      const hit = this.outside.get(abs);
      if (hit !== undefined) return hit;
    }
    const name = outside ? this.files.nameOf(abs) : this.store.hashCache.hashFile(abs);
    if (outside) this.outside.set(abs, name);
    return name;
  }

  /**
   * Declare a file whose content name was just verified (a cached header list): no stat, no hashing; a
   * file small enough to be a placeholder takes the careful path.
   */
  declareKnown(p: string, cwd: string, name: string): DeclaredFile {
    const size = parseInt(name.slice(-8), 16);
    const abs = path.resolve(cwd, p);
    const rel = this.underRoot(abs);
    if (size <= PLACEHOLDER_MAX) {
      // (gcc's own small wrappers, such as its stdint.h, are read by nearly every compile: once per run)
      const known = rel === undefined && path.isAbsolute(p) ? this.outsideInputs.get(abs) : undefined;
      if (known !== undefined) return { kind: 'value', input: known, argPath: p };
      const d = this.declare(p, cwd);
      if (rel === undefined && d.kind === 'value' && d.input.filename === abs) this.outsideInputs.set(abs, d.input);
      return d;
    }
    let filename: string;
    if (path.isAbsolute(p)) filename = path.normalize(p);
    else {
      if (rel === undefined) real('an input outside the root named by a relative path', p);
      filename = rel;
    }
    if (!this.stored.has(name)) {
      if (!this.store.hasSync(name)) {
        if (rel === undefined) this.files.put(abs, name);
        else this.store.putFileSync(abs, name);
      }
      this.stored.add(name);
    }
    return { kind: 'value', input: { name, filename }, argPath: p };
  }

  /** A file at an absolute path outside the project (toolchain, system headers and libraries). */
  declareAbsolute(abs: string): ThunkInput {
    let input = this.outsideInputs.get(abs);
    if (input === undefined) {
      input = { name: this.files.put(abs), filename: path.normalize(abs) };
      this.outsideInputs.set(abs, input);
    }
    return input;
  }
}
