/**
 * Header discovery by the compile itself, as ccache's depend mode does it: under `gg infer --force` a C or
 * C++ compile runs once, at infer time, in a bubblewrap jail that has the declared toolchain at its root and
 * shows the project (read-only, at the jail's working directory and at its own path) and the compiler's
 * include directories (read-only), with `-MD` added (written to the jail's /tmp). The files it read become the thunk's inputs, and its
 * object becomes the thunk's memoized result. This replaces a separate `-E -fdirectives-only -MD` preprocess
 * per source (~10-20% of a compile's CPU).
 *
 * The jail is the thunk's own layout (same root path of the project, start directory, toolchain files,
 * environment, user, limits), so the run is the thunk's run except that more files can be seen; what the
 * compiler reads of them is exactly what `-MD` lists (plus the `__has_include` probes, declared as always).
 * Where that might not hold, the result is not recorded and the thunk runs as declared later (see `sound`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ThunkInput } from '../../ir/thunk.js';
import type { ViewRequest, ViewRunner } from '../../engine/local-engine.js';
import type { LocalStore } from '../../store/local-store.js';
import { parseDepFile } from './header-deps.js';

/** Flags under which `-MD` added by us could clash, or the wider view could change what the compiler says. */
const NOT_FOR_DEPEND = /^-Wp,|^-Xpreprocessor$|missing-include-dirs|^-M/;

/** A file changed this close to (or after) the compile's start may not be what the compiler read. */
const SETTLE_MS = 50;

export interface DependCompile {
  /** Headers as the compiler named them (relative to the build directory, or absolute), in its order. */
  headers: string[];
  /** Content names of the headers (same order). */
  names: string[];
  /** The object, already in the store. */
  object: string;
  /** What the compiler printed (warnings). */
  log: string;
  /**
   * Whether the object may be recorded as the thunk's result: false when the run may have read a file the
   * thunk does not declare, or a file that changed while it ran (the thunk then runs as declared later).
   */
  sound: boolean;
}

export interface DependRequest {
  sandbox: ViewRunner;
  store: LocalStore;
  /** Project root (the jail's working directory shows it) and the start directory relative to it. */
  root: string;
  cwdRel: string;
  /** The thunk's argv (argv[0] = the driver's declared path), environment and toolchain inputs. */
  args: string[];
  env: string[];
  functionName: string;
  toolchain: ThunkInput[];
  /** The thunk's output tag (the `-o` name in the start directory). */
  outTag: string;
  source: string;
  /** Absolute directories the compiler searches, or names absolutely, outside the root. */
  readOnly: string[];
  /** Content name of an absolute path (the run's hash cache). */
  nameOf: (abs: string) => string;
  /** Whether a file's text makes the compiler read more than it includes (cached by content). */
  readsUnlisted: (abs: string) => boolean;
  /**
   * Files outside the root already found fit to record this run. They are taken as unchanged during a run
   * (their content names are cached per run too: FileDeclarer.nameOf), so each is checked once, not by every
   * compile that reads it (each of git's compiles reads ~290 system headers and ~60 of its own).
   */
  outsideFit: Set<string>;
  /** Whether an absolute path lies outside the project root (FileDeclarer.underRoot). */
  isOutside: (abs: string) => boolean;
  /** Says why a run was not used or not recorded (gg infer -v). */
  log: (msg: string) => void;
}

/** Whether a command's flags allow a depend-mode run at all. */
export function dependModeFits(flags: readonly string[]): boolean {
  return !flags.some((f) => NOT_FOR_DEPEND.test(f));
}

/**
 * Whether every name resolves in the declared thunk's jail as it did here. A `dir/..` or `dir/.` inside a
 * name (gcc writes `/abs/tests/../cJSON.h` for `#include "../cJSON.h"` in `/abs/tests/x.c`) needs `dir`
 * to exist there, and the name to mean what it means lexically. The declared jail has the directories of
 * declared files only (absolute names in its root, relative ones under its working directory, with the
 * start directory), as real directories: so `dir` must hold a file named the same way (absolute or
 * relative), or be the start directory or above it, and no symbolic link may lie on the host's way to it.
 */
export function namesResolveAlike(names: readonly string[], hostCwd: string, root: string): boolean {
  const normal = (n: string): string => path.resolve(hostCwd, n);
  const abs = names.filter((n) => path.isAbsolute(n)).map(normal);
  const rel = names.filter((n) => !path.isAbsolute(n)).map(normal);
  let realRoot: string | undefined;
  for (const n of names) {
    const parts = n.split('/');
    let i = path.isAbsolute(n) ? 1 : 0;
    if (!path.isAbsolute(n)) while (parts[i] === '..') i++;
    for (let k = i; k < parts.length; k++) {
      if (parts[k] !== '..' && parts[k] !== '.') continue;
      const dir = path.resolve(hostCwd, parts.slice(0, k).join('/') || (path.isAbsolute(n) ? '/' : '.'));
      const held = (path.isAbsolute(n) ? abs : rel).some((f) => f.startsWith(`${dir}/`));
      const startDir = !path.isAbsolute(n) && (hostCwd === dir || hostCwd.startsWith(`${dir}/`));
      if (!held && !startDir) return false;
      let real: string;
      try {
        real = fs.realpathSync(dir);
      } catch {
        return false;
      }
      const inRoot = path.relative(root, dir);
      if (inRoot.startsWith('..') || path.isAbsolute(inRoot)) {
        if (real !== dir) return false;
      } else {
        realRoot ??= fs.realpathSync(root);
        if (real !== path.join(realRoot, inRoot)) return false;
      }
    }
  }
  return true;
}

/** Where the dependency list is written in the jail (a fresh tmpfs there). */
const DEP_FILE = '/tmp/gg-depend.d';

/**
 * Runs the compile; undefined when it did not succeed or cannot run this way (then discovery and the
 * declared thunk take over). The object is written through a bind over `OUTTAG` in the start directory of
 * the read-only tree, the thunk's own output path, so a file must be there for the run: when none is, an
 * empty one is made, dated 1970 (make sees it as out of date), and removed after the run if it is still
 * that file (when the build's output is elsewhere, e.g. `-o sub/x.o`, or a placeholder replaced it since).
 */
export async function dependCompile(r: DependRequest): Promise<DependCompile | undefined> {
  const hostCwd = path.join(r.root, r.cwdRel);
  const hostOut = path.join(hostCwd, r.outTag);
  let made: number | undefined;
  try {
    fs.closeSync(fs.openSync(hostOut, 'wx'));
    fs.utimesSync(hostOut, 0, 0);
    made = fs.lstatSync(hostOut).ino;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  try {
    if (!fs.lstatSync(hostOut, { throwIfNoEntry: false })?.isFile()) {
      r.log(`${r.source}: ${hostOut} is not a file; discovery instead of a compile at infer time`);
      return undefined;
    }
    return await runInView(r, hostCwd);
  } finally {
    if (made !== undefined) removeIfMade(hostOut, made);
  }
}

let hiddenCounter = 0;

/**
 * Removes the empty file made as a mount point, unless something else has the name now: it is moved aside
 * first (one atomic step), and put back with link(2) (which never replaces anything) when it is not ours
 * (another inode, or ours written since: no longer empty and from 1970).
 */
function removeIfMade(file: string, ino: number): void {
  const hidden = `${file}.gg-depend-${process.pid}-${(hiddenCounter++).toString(36)}`;
  try {
    fs.renameSync(file, hidden);
  } catch {
    return; // gone already
  }
  const st = fs.lstatSync(hidden);
  if (!(st.ino === ino && st.size === 0 && st.mtimeMs === 0)) {
    try {
      fs.linkSync(hidden, file);
    } catch {
      // a newer file has the name: it stays
    }
  }
  fs.rmSync(hidden, { force: true });
}

async function runInView(r: DependRequest, hostCwd: string): Promise<DependCompile | undefined> {
  const scratch = r.sandbox.scratchDir ?? path.dirname(r.store.tempPath('depend'));
  fs.mkdirSync(scratch, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(scratch, 'depend-'));
  const logFile = `${workDir}.log`;
  const objFile = path.join(workDir, 'object');
  const depFile = path.join(workDir, 'deps');
  try {
    const objects = new Map<string, string>();
    const files: ViewRequest['files'] = [];
    for (const i of r.toolchain) {
      const hostPath = r.store.verifiedBlobPath(i.name);
      objects.set(i.name, hostPath);
      if (i.filename) files.push({ name: i.name, filename: i.filename, hostPath });
    }
    const program = objects.get(r.functionName);
    if (program === undefined) return undefined;
    for (const f of [logFile, objFile, depFile]) {
      fs.writeFileSync(f, '');
      fs.chmodSync(f, 0o666);
    }
    const start = Date.now();
    const result = await r.sandbox.run({
      workDir,
      files,
      objects,
      program,
      args: [...r.args, '-MD', '-MF', DEP_FILE, '-MT', 'gg'],
      envars: r.env,
      links: {},
      cwd: r.cwdRel,
      logFile,
      view: {
        tree: r.root,
        readOnly: r.readOnly,
        writable: [
          [path.join(r.cwdRel, r.outTag), objFile],
          [DEP_FILE, depFile],
        ],
      },
    });
    if (result.exitCode !== 0 || result.limit !== undefined) {
      r.log(
        `${r.source}: the compile at infer time failed; the thunk runs as declared: ${fs.readFileSync(logFile, 'utf8').slice(0, 300)}`,
      );
      return undefined;
    }
    const headers = parseDepFile(fs.readFileSync(depFile, 'utf8'))
      .slice(1)
      .filter((d) => d !== r.source);
    const names = headers.map((h) => r.nameOf(path.resolve(hostCwd, h)));
    let unsound = namesResolveAlike([r.source, ...headers], hostCwd, r.root)
      ? undefined
      : 'a path through `..` or `.` the declared jail may resolve otherwise';
    for (const f of [r.source, ...headers]) {
      if (unsound) break;
      const abs = path.resolve(hostCwd, f);
      const outside = r.isOutside(abs);
      if (outside && r.outsideFit.has(abs)) continue;
      const st = fs.statSync(abs, { throwIfNoEntry: false });
      // changed around the compile: what it read may not be what was just hashed
      if (!st || st.mtimeMs >= start - SETTLE_MS) unsound = `${f} changed while it ran`;
      // a precompiled header beside it: the compiler may have read that instead
      else if (f.endsWith('.gch') || fs.existsSync(`${abs}.gch`)) unsound = `a precompiled header beside ${f}`;
      else if (r.readsUnlisted(abs)) unsound = `${f} reads files it does not include`;
      else if (outside) r.outsideFit.add(abs);
    }
    if (unsound) r.log(`${r.source}: result of the compile at infer time not recorded: ${unsound}`);
    const sound = !unsound;
    // The object moves into the store, as a thunk's outputs do (the scratch directory is on the store's file
    // system, and the jail that wrote it is gone): no copy of it, and no unlink afterwards (~1.5 ms a compile).
    const object = r.store.adoptFile(objFile).name;
    return { headers, names, object, log: fs.readFileSync(logFile, 'utf8'), sound };
  } finally {
    removeScratch(workDir, [objFile, depFile]);
    fs.rmSync(logFile, { force: true });
  }
}

/** A run's scratch directory: its own files, then itself (a recursive removal cost ~2.5 ms a compile here). */
function removeScratch(dir: string, files: readonly string[]): void {
  try {
    for (const f of files) fs.rmSync(f, { force: true });
    fs.rmdirSync(dir);
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
