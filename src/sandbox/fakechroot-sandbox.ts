/**
 * `--sandbox=fakechroot`: a user-space root for machines without user namespaces, root or ptrace (AWS Lambda).
 *
 * A thunk written by `gg infer` names its toolchain at absolute host paths (/usr/bin/cc, /usr/lib/gcc/...,
 * /lib64/ld-linux-x86-64.so.2, libc). Here those paths cannot be created, so each run gets a fresh directory
 * tree (the "root") holding the declared inputs at their declared paths, and the program runs with
 * libfakechroot preloaded: it maps every path the program names through libc (open, stat, exec, getcwd, ...)
 * into the root. The kernel is never asked to run a program by path: the program is started through its own
 * declared ELF loader (`ld.so --argv0 ARGV0 PROGRAM`), and libfakechroot starts every child (cc1, as, ld) the
 * same way (FAKECHROOT_ELFLOADER), so the thunk's own loader and libc are used throughout, never the host's.
 * Libraries are found in the root's library directories first (LD_LIBRARY_PATH).
 *
 * Layout inside the root (what the program sees), as in the bubblewrap jail, so outputs are bit-identical:
 *   /gg/work      working directory: relative inputs, links, outputs
 *   /gg/obj/NAME  objects named by @{GGHASH:NAME} (and the function when it has no file name)
 *   /tmp          empty, private to the run
 * The root lives inside the run's work directory, so the engine deletes it with the run (a fresh tree per
 * thunk, nothing left for the next invocation of a warm function).
 *
 * Weaker than the jail, and said so in docs/LAMBDA.md: the mapping covers calls through libc (a statically
 * linked program or raw syscalls escape it); the environment also holds LD_PRELOAD, LD_LIBRARY_PATH and
 * FAKECHROOT_* (the mapping's own settings); no PID/network isolation and no memory or process limits of
 * our own (Lambda's function limits apply).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { placeholdersIn, replacePlaceholders } from '../ir/thunk.js';
import { ELF_MAGIC, elfInterpreter, fileHead } from '../ir/elf-interpreter.js';
import { envFromEnvars, placeFile } from './no-sandbox.js';
import { Spawner } from './spawner.js';
import type { Sandbox, SandboxRequest, SandboxResult, StagedFile } from './sandbox.js';

export const ROOT_WORK_DIR = '/gg/work';
export const ROOT_OBJ_DIR = '/gg/obj';

/** Where Debian and most distributions install the library (multiarch first). */
const LIBRARY_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/fakechroot/libfakechroot.so',
  '/usr/lib/aarch64-linux-gnu/fakechroot/libfakechroot.so',
  '/usr/lib64/fakechroot/libfakechroot.so',
  '/usr/lib/fakechroot/libfakechroot.so',
];

/** The thunk's library directories are searched in the order a multiarch host's loader would. */
const LIBRARY_DIR_ORDER = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
];

export interface FakechrootSandboxOptions {
  /** libfakechroot.so (default: $GG_FAKECHROOT_LIB, else the distribution's). */
  library?: string;
}

export function findFakechrootLibrary(explicit?: string): string | undefined {
  const wanted = explicit ?? process.env['GG_FAKECHROOT_LIB'];
  if (wanted) return fs.existsSync(wanted) ? wanted : undefined;
  return LIBRARY_CANDIDATES.find((p) => fs.existsSync(p));
}

export class FakechrootSandbox implements Sandbox {
  readonly kind = 'fakechroot';
  readonly notice = 'the fakechroot executor maps paths through libc only: no namespaces, no memory or process limits';
  private readonly spawner = new Spawner();
  /** Blobs already given execute bits (or found to be data). */
  private readonly modeChecked = new Set<string>();

  private constructor(private readonly library: string) {}

  static create(o: FakechrootSandboxOptions = {}): FakechrootSandbox {
    const library = findFakechrootLibrary(o.library);
    if (!library) {
      throw new GgError('GG_E_SANDBOX_UNAVAILABLE', 'libfakechroot.so was not found', {
        hint: 'install it (Debian: apt-get install libfakechroot) or point GG_FAKECHROOT_LIB at it',
      });
    }
    return new FakechrootSandbox(library);
  }

  async close(): Promise<void> {
    await this.spawner.close();
  }

  /**
   * A store keeps content, not modes: a toolchain declared as values (gcc's cc1, as, ld at their paths) may
   * arrive from a remote store without execute bits, and gcc looks for cc1 with access(X_OK). Blobs that are
   * programs (ELF or #!) get them, as they had on the machine that declared them; blobs are read-only anyway.
   */
  private markIfProgram(blob: string): void {
    const st = fs.statSync(blob);
    const key = `${st.ino}:${blob}`; // a cache may evict and fetch the blob again: a new inode
    if (this.modeChecked.has(key)) return;
    if ((st.mode & 0o111) !== 0o111) {
      const head = fileHead(blob, 4);
      if (head.toString('latin1') === ELF_MAGIC || head.subarray(0, 2).toString('latin1') === '#!')
        fs.chmodSync(blob, (st.mode & 0o777) | 0o555);
    }
    this.modeChecked.add(key);
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    if (req.view) throw new GgError('GG_E_INTERNAL', `the ${this.kind} sandbox has no view of a tree (bwrap only)`);
    // The root is the run directory itself: the engine removes it (a non-empty run directory is never reused).
    const root = req.workDir;
    const inRoot = (p: string): string => path.join(root, p);
    const absolute: StagedFile[] = [];
    for (const f of req.files) {
      if (path.isAbsolute(f.filename)) {
        const normal = path.posix.normalize(f.filename);
        if (normal === '/' || normal.split('/')[1] === 'gg' || normal.split('/')[1] === 'tmp') {
          throw new GgError(
            'GG_E_THUNK_INVALID',
            `input file name '${f.filename}' cannot be placed in the user-space root: /gg and /tmp are its own`,
            {
              hint: 'declare the input under another absolute path, or as a relative name in the working directory',
            },
          );
        }
        this.markIfProgram(f.hostPath);
        placeFile(f.hostPath, inRoot(normal));
        absolute.push(f);
      } else {
        this.markIfProgram(f.hostPath);
        placeFile(f.hostPath, path.join(inRoot(ROOT_WORK_DIR), safeRelative(f.filename)));
      }
    }
    for (const [name, target] of Object.entries(req.links)) {
      const p = path.join(inRoot(ROOT_WORK_DIR), safeRelative(name));
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.symlinkSync(target, p);
    }
    fs.mkdirSync(inRoot('/tmp'), { recursive: true, mode: 0o1777 });
    const startDir = path.join(inRoot(ROOT_WORK_DIR), safeRelative(req.cwd || '.'));
    fs.mkdirSync(startDir, { recursive: true });

    // The function runs from where the thunk declares it (an absolute path preferred), else from /gg/obj.
    const functionName = [...req.objects].find(([, host]) => host === req.program)?.[0] ?? 'function';
    const placed = req.files
      .filter((f) => f.name === functionName)
      .sort((a, b) => Number(path.isAbsolute(b.filename)) - Number(path.isAbsolute(a.filename)))[0];
    const wanted = new Set<string>();
    for (const s of [...req.args, ...req.envars])
      for (const n of placeholdersIn(s)) if (req.objects.has(stripTag(n))) wanted.add(stripTag(n));
    if (!placed) wanted.add(functionName);
    this.markIfProgram(req.program);
    for (const n of wanted) placeFile(req.objects.get(n) ?? req.program, path.join(inRoot(ROOT_OBJ_DIR), n));
    const rootProgram = !placed
      ? `${ROOT_OBJ_DIR}/${functionName}`
      : path.isAbsolute(placed.filename)
        ? path.posix.normalize(placed.filename)
        : path.posix.join(ROOT_WORK_DIR, placed.filename);

    const sub = (s: string): string =>
      replacePlaceholders(s, (n) =>
        req.objects.has(stripTag(n)) ? `${ROOT_OBJ_DIR}/${stripTag(n)}` : `@{GGHASH:${n}}`,
      );
    const args = req.args.map(sub);
    const env = envFromEnvars(req.envars.map(sub));
    env['TZ'] ??= 'UTC';
    env['LANG'] ??= 'C';

    const loader = programLoader(req.program, rootProgram);
    if (loader !== undefined && !fs.existsSync(inRoot(loader))) {
      throw new GgError(
        'GG_E_THUNK_INVALID',
        `the thunk's program ${rootProgram} needs its ELF loader ${loader}, which the thunk does not declare`,
        {
          hint: 'declare the program with its closure (gg create-thunk --executable-file PATH)',
        },
      );
    }
    const libDirs = libraryDirs(absolute);
    Object.assign(env, {
      LD_PRELOAD: this.library,
      LD_LIBRARY_PATH: libDirs.map(inRoot).join(':'),
      FAKECHROOT_BASE: root,
      ...(loader ? { FAKECHROOT_ELFLOADER: inRoot(loader), FAKECHROOT_ELFLOADER_OPT_ARGV0: '--argv0' } : {}),
    });
    const argv0 = args[0] ?? rootProgram;
    // A static program cannot be mapped (nothing is preloaded into it): it runs as is, with the mapping for its children.
    const file = loader ? inRoot(loader) : inRoot(rootProgram);
    const argv = loader ? ['--argv0', argv0, inRoot(rootProgram), ...args.slice(1)] : args.slice(1);
    const outcome = await this.spawner.run({
      file,
      args: argv,
      argv0: loader ? inRoot(loader) : argv0,
      cwd: startDir,
      env,
      logFile: req.logFile,
      timeoutMs: req.limits.timeoutMs,
      ...(req.abort ? { abort: req.abort } : {}),
    });
    return { ...outcome, outputDir: startDir };
  }
}

function stripTag(n: string): string {
  const i = n.indexOf('#');
  return i < 0 ? n : n.slice(0, i);
}

/** A relative name that stays inside the working directory. */
function safeRelative(p: string): string {
  const normal = path.posix.normalize(p);
  if (path.isAbsolute(normal) || normal === '..' || normal.startsWith('../')) {
    throw new GgError('GG_E_THUNK_INVALID', `file name '${p}' leaves the working directory`, {
      hint: 'relative input names must stay below the working directory',
    });
  }
  return normal;
}

/** The ELF loader (PT_INTERP) of the program, or undefined for a static program or a script. */
function programLoader(hostProgram: string, shown: string): string | undefined {
  if (fileHead(hostProgram, 4).toString('latin1') !== ELF_MAGIC) {
    throw new GgError('GG_E_THUNK_INVALID', `the fakechroot executor runs ELF programs only, and ${shown} is not one`, {
      hint: "make the thunk's function the interpreter (e.g. /bin/sh) with the script as an argument",
    });
  }
  return elfInterpreter(hostProgram);
}

/** Directories holding the thunk's shared libraries, in the host loader's search order, then the rest. */
function libraryDirs(files: readonly StagedFile[]): string[] {
  const dirs = new Set<string>();
  for (const f of files)
    if (/\.so(\.\d+)*$/.test(f.filename)) dirs.add(path.posix.dirname(path.posix.normalize(f.filename)));
  const rank = (d: string): number => {
    const i = LIBRARY_DIR_ORDER.indexOf(d);
    return i < 0 ? LIBRARY_DIR_ORDER.length : i;
  };
  return [...dirs].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
