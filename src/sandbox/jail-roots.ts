/**
 * Staged jail roots: one directory tree per distinct set of absolute-path inputs (a toolchain), holding each
 * input as a hard link to its blob at its declared path, plus the jail's fixed skeleton:
 *
 *   /proc /tmp               mount points (bubblewrap mounts procfs and a tmpfs on them)
 *   /dev                     null, zero, full, random, urandom, tty, and fd/std*, shm -> /tmp symlinks,
 *                            bound with devices allowed: one bind instead of bubblewrap's --dev (a tmpfs,
 *                            six binds and a devpts mount)
 *   /gg/work                 the thunk's working directory (the host run directory, bound read-write)
 *   /gg/obj/NAME             the function, when the thunk gives it no file name (objects named by
 *                            @{GGHASH:NAME} come in a per-run directory bound over /gg/obj)
 *   /gg/bin/exec             the exec helper (jail-exec-helper.ts)
 *
 * The tree is bound read-only at / with ONE bind mount: bubblewrap's cost grows with every mount (a
 * --ro-bind per file costs ~0.5 ms each here), so 300 inputs must not mean 300 mounts. Roots are built
 * atomically (temp dir + rename) under .gg/cache/roots/<key>, where key = hash of the sorted (path, name) list,
 * and reused by every thunk with the same set, across processes.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import type { FileNamer, StagedFile } from './sandbox.js';

export const JAIL_WORK_DIR = '/gg/work';
export const JAIL_OBJ_DIR = '/gg/obj';
export const JAIL_EXEC = '/gg/bin/exec';
/**
 * Top-level names the jail mounts over; inputs may not be declared below them. (/tmp is a fresh tmpfs too,
 * but inputs below it are bound into it one by one: scripts and test data live there.)
 */
const RESERVED = new Set(['proc', 'dev', 'gg']);
const LAYOUT_VERSION = 'gg-ts jail root v2';
const DEVICES: [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];
const DEV_LINKS: [string, string][] = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['shm', '/tmp'],
];

let tmpCounter = 0;

export class JailRoots {
  /** key -> root directory, checked against the store once per process. */
  private readonly known = new Map<string, string>();
  /** Device nodes made once per roots directory and hard-linked into each root; undefined if mknod fails. */
  readonly devTemplate: string | undefined;

  constructor(
    readonly dir: string,
    private readonly helper: Buffer,
    /** Keeps the blobs' cached names across the links that stage them (their ctime moves). */
    private readonly namer?: FileNamer,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.devTemplate = makeDevTemplate(dir);
  }

  /**
   * The staged root holding exactly `files` (all with absolute file names), and `program` at /gg/obj/NAME.
   * Linking per run instead would change the blobs' ctime on every run, and with it their hash-cache key.
   */
  rootFor(
    files: readonly StagedFile[],
    program?: { name: string; hostPath: string },
    /** Empty directories to make (mount points for a SandboxView's read-only directories). */
    mountPoints: readonly string[] = [],
  ): string {
    const entries = files.map((f) => ({ ...f, filename: checkAbsolute(f.filename) }));
    if (program) entries.push({ ...program, filename: `${JAIL_OBJ_DIR}/${program.name}` });
    entries.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
    const dirs = [...new Set(mountPoints.map(checkAbsolute))].sort();
    const key = this.key(entries, dirs);
    const known = this.known.get(key);
    if (known) return known;
    const root = path.join(this.dir, key);
    if (!(fs.existsSync(root) && this.matches(root, entries))) {
      fs.rmSync(root, { recursive: true, force: true });
      this.build(root, entries, dirs);
    }
    this.known.set(key, root);
    return root;
  }

  private key(entries: readonly StagedFile[], dirs: readonly string[]): string {
    const h = crypto.createHash('sha256');
    h.update(`${LAYOUT_VERSION}\0${this.devTemplate ? 'devices' : 'no devices'}\0`);
    h.update(this.helper);
    for (const e of entries) h.update(`\0${e.filename}\0${e.name}`);
    // (no directory is ever named like a file's name: the two lists cannot run together)
    for (const d of dirs) h.update(`\0${d}/`);
    return h.digest('hex').slice(0, 40);
  }

  /**
   * A root built by an earlier process must still hold the store's files (the same inodes): a blob found
   * corrupt is deleted from the store and collected again as a new file, and the root must follow.
   */
  private matches(root: string, entries: readonly StagedFile[]): boolean {
    for (const e of entries) {
      const staged = fs.statSync(path.join(root, e.filename), { throwIfNoEntry: false });
      const blob = fs.statSync(e.hostPath, { throwIfNoEntry: false });
      if (!staged || !blob || staged.ino !== blob.ino || staged.dev !== blob.dev) return false;
    }
    return true;
  }

  private build(root: string, entries: readonly StagedFile[], dirs: readonly string[]): void {
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${(tmpCounter++).toString(36)}`);
    try {
      for (const d of ['proc', 'dev', 'tmp', 'gg/work', 'gg/obj', 'gg/bin'])
        fs.mkdirSync(path.join(tmp, d), { recursive: true });
      fs.writeFileSync(path.join(tmp, JAIL_EXEC), this.helper, { mode: 0o555 });
      if (this.devTemplate) {
        for (const [name] of DEVICES) fs.linkSync(path.join(this.devTemplate, name), path.join(tmp, 'dev', name));
        for (const [name, target] of DEV_LINKS) fs.symlinkSync(target, path.join(tmp, 'dev', name));
      }
      const made = new Set<string>();
      for (const e of entries) {
        const dest = path.join(tmp, e.filename);
        const parent = path.dirname(dest);
        if (!made.has(parent)) {
          try {
            fs.mkdirSync(parent, { recursive: true });
          } catch (err) {
            throw conflict(e.filename, err);
          }
          made.add(parent);
        }
        const link = (): void => linkOrCopy(e.hostPath, dest, e.filename);
        if (this.namer?.keepName) this.namer.keepName(e.hostPath, link);
        else link();
      }
      for (const d of dirs) {
        try {
          fs.mkdirSync(path.join(tmp, d), { recursive: true });
        } catch (err) {
          throw conflict(d, err);
        }
      }
      try {
        fs.renameSync(tmp, root);
      } catch (err) {
        // Another process built the same root first: use theirs.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
}

/** rootsDir/.dev-v1: the device nodes, made with mknod(1) (Node has no mknod) once, atomically. */
function makeDevTemplate(rootsDir: string): string | undefined {
  const dir = path.join(rootsDir, '.dev-v1');
  if (fs.existsSync(dir)) return devicesWork(dir) ? dir : undefined;
  const tmp = path.join(rootsDir, `.tmp-dev-${process.pid}-${(tmpCounter++).toString(36)}`);
  try {
    fs.mkdirSync(tmp);
    // one shell for all of them: a process started from a large Node process costs milliseconds (fork)
    const script = DEVICES.map(([name, major, minor]) => `mknod -m 666 "$1/${name}" c ${major} ${minor}`).join(' && ');
    const r = spawnSync('/bin/sh', ['-c', script, 'sh', tmp], { stdio: 'ignore' });
    if (r.status !== 0) return undefined;
    if (!devicesWork(tmp)) return undefined;
    fs.renameSync(tmp, dir);
    return dir;
  } catch {
    return fs.existsSync(dir) && devicesWork(dir) ? dir : undefined;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A file system mounted nodev holds device nodes that cannot be opened: then bubblewrap's --dev it is. */
function devicesWork(dir: string): boolean {
  try {
    fs.closeSync(fs.openSync(path.join(dir, 'null'), 'w'));
    return true;
  } catch {
    return false;
  }
}

function checkAbsolute(filename: string): string {
  const normal = path.posix.normalize(filename);
  const top = normal.split('/')[1] ?? '';
  if (normal === '/' || filename.endsWith('/') || RESERVED.has(top)) {
    throw new GgError(
      'GG_E_THUNK_INVALID',
      `input file name '${filename}' cannot be placed in the jail: /proc, /dev and /gg are the jail's own`,
      {
        hint: 'declare the input under another absolute path, or as a relative name in the working directory',
      },
    );
  }
  return normal;
}

function linkOrCopy(src: string, dest: string, filename: string): void {
  try {
    fs.linkSync(src, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') fs.copyFileSync(src, dest);
    else throw conflict(filename, e);
  }
}

function conflict(filename: string, cause: unknown): GgError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    return new GgError(
      'GG_E_THUNK_INVALID',
      `input '${filename}' conflicts with another input (one is declared as a file where the other needs a directory)`,
      {
        hint: 'declare each absolute path once, and never both a file and something below it',
        cause,
      },
    );
  }
  return new GgError('GG_E_INFRA', `staging input '${filename}' for the jail: ${(cause as Error).message}`, { cause });
}
