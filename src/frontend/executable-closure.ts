/**
 * What a host program needs to run in a jail that holds only declared files: the program, its ELF
 * interpreter (PT_INTERP) and shared-library closure, or a script's `#!` interpreter (recursively), each at
 * its absolute host path. Symlinks are followed and every path on the way is declared too, so `/bin/sh`
 * (-> dash) works under both names, as does `/lib64/ld-linux-x86-64.so.2` (-> the real loader).
 *
 * Libraries are resolved by the program's own loader (`ld.so --list`, what ldd does) with an empty
 * environment, so RUNPATH, $ORIGIN and the loader's cache are honoured. Not covered: libraries a program
 * dlopen()s by itself (NSS modules, gconv, plugins) and data files it reads; declare those explicitly.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { elfInterpreter } from '../ir/elf-interpreter.js';

export { elfInterpreter };

export interface ClosureFile {
  /** Absolute path the file must have in the jail. */
  filename: string;
  /** Host file holding its content (symlinks resolved). */
  hostPath: string;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MAX_SHEBANG = 256;

/** The files `program` needs, the program first (at the path given, made absolute). */
export function executableClosure(program: string, searchPath = process.env['PATH'] ?? '/usr/bin:/bin'): ClosureFile[] {
  const out = new Map<string, ClosureFile>();
  const visited = new Set<string>();
  const visit = (p: string, why: string): void => {
    const abs = path.resolve(p);
    if (visited.has(abs)) return;
    visited.add(abs);
    const real = declareChain(abs, why, out);
    const head = readHead(real);
    if (head.subarray(0, 4).equals(ELF_MAGIC)) {
      const interp = elfInterpreter(real);
      if (interp === undefined) return; // static: nothing else to load
      visit(interp, `the ELF interpreter of ${abs}`);
      for (const lib of sharedLibraries(interp, real, abs)) visit(lib, `a library of ${abs}`);
      return;
    }
    if (head.subarray(0, 2).toString('latin1') === '#!') {
      const [interp, arg] = shebang(head, abs);
      visit(interp, `the #! interpreter of ${abs}`);
      // `#!/usr/bin/env NAME` runs NAME from PATH: bring the host's NAME (the thunk must set PATH to find it).
      if (path.basename(interp) === 'env' && arg && !arg.startsWith('-')) {
        const found = findOnPath(arg, searchPath);
        if (found) visit(found, `the program ${abs} runs through env`);
      }
    }
  };
  visit(program, 'the program');
  return [...out.values()];
}

/** Declare `abs` and every symlink on the way to its content; returns the real file. */
function declareChain(abs: string, why: string, out: Map<string, ClosureFile>): string {
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch (e) {
    throw new GgError('GG_E_FILE_NOT_FOUND', `${abs} (${why}) does not exist`, {
      cause: e,
      hint: 'give the path of an installed program',
    });
  }
  if (!fs.statSync(real).isFile()) throw new GgError('GG_E_USAGE', `${abs} (${why}) is not a regular file`);
  const chain = [abs];
  for (let p = abs, hops = 0; hops < 40; hops++) {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isSymbolicLink()) break;
    p = path.resolve(path.dirname(p), fs.readlinkSync(p));
    chain.push(p);
  }
  chain.push(real);
  for (const filename of chain) if (!out.has(filename)) out.set(filename, { filename, hostPath: real });
  return real;
}

function readHead(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(MAX_SHEBANG);
    return b.subarray(0, fs.readSync(fd, b, 0, b.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** Absolute paths of the shared libraries `real` loads, as its own loader resolves them. */
function sharedLibraries(interp: string, real: string, shown: string): string[] {
  const r = spawnSync(interp, ['--list', real], { encoding: 'utf8', env: {} });
  if (r.error || r.status !== 0) {
    throw new GgError(
      'GG_E_INFRA',
      `cannot list the libraries of ${shown} with ${interp}: ${r.error?.message ?? r.stderr.trim()}`,
      {
        hint: 'declare the program and its libraries one by one with --executable NAME=PATH',
      },
    );
  }
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?\s*$/.exec(line);
    if (!m) continue;
    if (m[2] === 'not found') {
      throw new GgError('GG_E_FILE_NOT_FOUND', `${shown} needs ${m[1]}, which its loader cannot find on this host`, {
        hint: "install the library, or fix the program's RUNPATH",
      });
    }
    if (path.isAbsolute(m[2]!)) libs.push(m[2]!);
  }
  return libs;
}

function shebang(head: Buffer, file: string): [string, string | undefined] {
  const line = head.toString('latin1').slice(2).split('\n')[0]!.trim();
  const [interp, ...rest] = line.split(/[ \t]+/);
  if (!interp || !path.isAbsolute(interp)) {
    throw new GgError('GG_E_USAGE', `${file} starts with '#!${line}', which does not name an absolute interpreter`);
  }
  return [interp, rest.join(' ') || undefined];
}

/** The executable file `cmd` names on a PATH-like list, as a shell would find it. */
export function findOnPath(cmd: string, searchPath = process.env['PATH'] ?? '/usr/bin:/bin'): string | undefined {
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
