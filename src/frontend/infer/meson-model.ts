/**
 * Models of Meson's wrappers, which a Meson build runs by absolute path (`/usr/bin/meson --internal ...` in
 * build.ninja) and which reach the server through interception (intercept.ts). Each real one is a Python
 * start (~0.07 s of CPU, more in wall time) around work that is already memoized:
 *
 * - `meson --internal exe --capture OUT -- PROG ARGS...` runs a generator and writes its standard output to
 *   OUT when that differs from OUT's content. When PROG is a program the build linked, the run is the same
 *   thunk a direct run of it would be (run-model.ts: memoized only when the jail vouches for it), and the
 *   answer writes OUT as Meson would (unchanged content: not touched, so ninja's `restat` still cuts off).
 * - `meson --internal symbolextractor BUILDDIR LIB IMPLIB OUT` writes LIB's soname line and exported symbols
 *   (from `readelf -d` and `nm --dynamic`) to OUT when they changed. The two tools' outputs are one thunk on
 *   LIB (memoized like any step); the file is made from them as Meson's script makes it.
 *
 * What the answer must reproduce is what the installed Meson's scripts do, so the models apply only to the
 * versions of those scripts they were written against (by content hash); any other Meson, any other form or
 * option, a failing or unprovable run, and environment variables the scripts or tools read run the real
 * Meson.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { forceRefs, type ForceContext } from '../../force/force-command.js';
import { joinTag } from '../../ir/name.js';
import type { ThunkInput } from '../../ir/thunk.js';
import { findOnPath } from './model-dir.js';
import { closureInputs, saveCache, stampedKey, statStamp } from './toolchain.js';
import { real, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';
import type { RunModel } from './run-model.js';

/**
 * sha256 of Meson's scripts whose behaviour (on Linux, for the forms modelled) the models reproduce: the
 * releases' files, read from Meson's history. meson_exe.py changed from 1.0.1 to 1.11 only in comments and
 * Windows paths; 1.12 prints a successful program's stderr, which is not modelled. symbolextractor.py's
 * `run`, `gnu_syms`, `call_tool`, `get_tool` and `write_if_changed` are the same text from 1.0.1 to 1.12.
 */
const KNOWN_EXE = new Set([
  '114aeca7e9815567428e1ccef9b533f79923e39ca88c52b9891854985b8593cf', // 1.0.1 (Debian 12)
  'a0bb12cee863c466e763bcf2b4305f51a417d8d23bd66a2f9d381e707a99dc65', // 1.1.0 to 1.3.2 (Ubuntu 24.04)
  '415683ebd2421934a8d4537505c98fab412fa3015138384d15faab8f5fdadee1', // 1.4.0 to 1.11.x (Debian 13)
]);
const KNOWN_SYMBOLS = new Set([
  '30a09be746a14f7e4a5f959aaf13a0007f5b4bca83aa8f0c3628cf9f50dfb83c', // 1.0.1 to 1.3.2
  'a0e3ae4ab06567188f650a291b0016f5ca145b448b9b5dc08ca66f7e16058997', // 1.4.0 and 1.4.1
  'f156ea0faf0cd9fd2eea944a8f6587a68ea58099983d5994b869a08d9b362126', // 1.4.2 to 1.7.x
  '8276f7340777269e9ebc94d11b784d7e9c2468638db74dc5364f6926112d84ea', // 1.8.x and 1.9.x
  '9ede6c6a56fc361f39d07ab440fa3b9494b7f024d194b522952b7318e2fe0874', // 1.10.0
  'd65d6cd1143600b4c4fd0da9b4a5bcf792a3308b8ecdf91fa8efd166d4b56fea', // 1.10.1 to 1.11.1
  'fac4041047d4cef1d4942f80352481c19fe632b876cfcb8fb54e7882aef87236', // 1.11.2 and 1.12.x
]);

/**
 * Variables that change what Python finds, runs or prints (all PYTHON* but a few that only change buffering,
 * hashing or bytecode caching), or which tools the symbol extractor calls.
 */
const UNSAFE_ENV =
  /^(PYTHON(?!(UNBUFFERED|DONTWRITEBYTECODE|HASHSEED|PYCACHEPREFIX)$).*|READELF|NM|LD_PRELOAD|LD_LIBRARY_PATH)$/;
const READELF_OUT = 'gg-readelf.out';
const NM_OUT = 'gg-nm.out';

interface Scripts {
  exe?: string;
  symbolextractor?: string;
}

export class MesonModel {
  private readonly scripts = new Map<string, Scripts>();
  private readonly closures = new Map<string, ThunkInput[]>();

  constructor(
    private readonly ctx: InferContext,
    private readonly runs: RunModel | undefined,
    private readonly context: (() => Promise<ForceContext>) | undefined,
  ) {}

  async run(req: ModelRequest): Promise<ModelAnswer> {
    const [, internal, form] = req.argv;
    if (internal !== '--internal' || (form !== 'exe' && form !== 'symbolextractor'))
      real('a Meson command other than --internal exe or symbolextractor');
    for (const k of Object.keys(req.env))
      if (UNSAFE_ENV.test(k)) real('a Meson wrapper with an environment it reads', k);
    if (req.argv.some((a) => a.includes('\0'))) real('a Meson wrapper with a NUL in an argument');
    const scripts = this.scriptsOf(req.tool);
    if (form === 'exe') {
      if (scripts.exe === undefined || !KNOWN_EXE.has(scripts.exe))
        real('a Meson version whose wrapper gg does not model', scripts.exe);
      return this.exe(req);
    }
    if (scripts.symbolextractor === undefined || !KNOWN_SYMBOLS.has(scripts.symbolextractor))
      real('a Meson version whose wrapper gg does not model', scripts.symbolextractor);
    return this.symbols(req);
  }

  /** `--internal exe --capture OUT -- PROG ARGS...`, the form Meson writes for `capture: true`. */
  private async exe(req: ModelRequest): Promise<ModelAnswer> {
    const a = req.argv;
    if (a.length < 7 || a[3] !== '--capture' || a[5] !== '--')
      real('a Meson exe wrapper form gg does not model', a.slice(3, 6).join(' '));
    const out = a[4]!;
    const prog = a[6]!;
    // Python finds a name without a slash on PATH; the run model resolves names against the directory.
    if (!prog.includes('/')) real('a Meson exe wrapper of a program found on PATH', prog);
    if (this.runs === undefined) real('a program run (not memoized by this caller of gg infer)');
    const target = this.outputPath(req, out);
    const r = await this.runs.run({
      tool: 'gg-force-and-run',
      cwd: req.cwd,
      argv: ['gg-force-and-run', ...a.slice(6)],
      env: req.env,
    });
    // Meson up to 1.11 drops the program's standard error when it succeeds (and prints nothing itself).
    writeIfChanged(target, r.stdout);
    this.ctx.stats.wrappers++;
    this.ctx.log(`meson --internal exe: ${out} from ${prog}`);
    return { kind: 'exit', status: 0 };
  }

  /** `--internal symbolextractor BUILDDIR LIB IMPLIB OUT` on Linux, without `--cross-host`. */
  private async symbols(req: ModelRequest): Promise<ModelAnswer> {
    const args = req.argv.slice(3);
    if (args.length !== 4 || args.some((x) => x.startsWith('-') || x === ''))
      real('a Meson symbolextractor form gg does not model', args.join(' '));
    if (this.context === undefined) real('a program run (not memoized by this caller of gg infer)');
    const [, lib, , out] = args as [string, string, string, string];
    const target = this.outputPath(req, out);
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    const d = this.ctx.declarer.declare(lib, req.cwd);
    if (path.isAbsolute(d.input.filename!)) real('a Meson symbolextractor of a library outside the root', lib);
    // /bin/sh, readelf and nm with their libraries, as the loader finds them (one closure cache for all three)
    const readelf = findOnPath('readelf', this.ctx.realPath);
    const nm = findOnPath('nm', this.ctx.realPath);
    if (readelf === undefined || nm === undefined) real('a Meson symbolextractor without readelf and nm');
    const programs = [this.closure('/bin/sh'), this.closure(readelf), this.closure(nm)];
    const t = this.ctx.builder.thunk({
      function: programs[0]![0]!.name,
      args: [
        '/bin/sh',
        '-c',
        `"$1" -d "$3" > ${READELF_OUT} && "$2" --dynamic --extern-only --defined-only --format=posix "$3" > ${NM_OUT}`,
        'sh',
        readelf,
        nm,
        lib,
      ],
      env: ['PATH=/usr/bin:/bin', 'LANG=C', 'LC_ALL=C', 'TMPDIR=/tmp'],
      values: d.kind === 'value' ? [d.input] : [],
      thunks: d.kind === 'thunk' ? [d.input] : [],
      executables: dedupe(programs.flat()),
      outputs: [READELF_OUT, NM_OUT],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: 5_000,
    });
    this.ctx.stats.thunks++;
    const refs = [t.name, joinTag(t.name, NM_OUT)];
    const rt = await this.context();
    const outcome = await forceRefs(rt, refs, { jobs: 1, trace: false });
    const re = outcome.results.get(refs[0]!);
    const syms = outcome.results.get(refs[1]!);
    if (re === undefined || syms === undefined)
      real('a Meson symbolextractor whose tools failed', outcome.errors.get(refs[0]!)?.message);
    const text = symbolsFile(
      (await rt.store.get(re)).toString('latin1'),
      (await rt.store.get(syms)).toString('latin1'),
    );
    writeIfChanged(target, Buffer.from(text, 'latin1'), true);
    this.ctx.stats.wrappers++;
    this.ctx.log(`meson --internal symbolextractor: ${out} from ${lib}`);
    return { kind: 'exit', status: 0 };
  }

  /**
   * The file a wrapper writes, checked so that writing it here does what the wrapper's own `open` would:
   * no `..` (the kernel resolves it after symbolic links, a lexical join does not), a directory under the
   * project root, and no symbolic link, hard link or non-file at the name (the wrapper writes through them).
   */
  private outputPath(req: ModelRequest, out: string): string {
    const parts = out.split('/');
    if (out === '' || parts.includes('..') || parts[parts.length - 1] === '' || parts[parts.length - 1] === '.')
      real('a Meson wrapper output gg does not write', out);
    let dir: string;
    try {
      dir = fs.realpathSync(path.resolve(req.cwd, path.dirname(out)));
    } catch {
      return real('a Meson wrapper output in a missing directory', out);
    }
    if (this.ctx.declarer.underRoot(dir) === undefined && dir !== this.ctx.root)
      real('a Meson wrapper output outside the project root', out);
    const file = path.join(dir, path.basename(out));
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (st !== undefined && (!st.isFile() || st.nlink !== 1))
      real('a Meson wrapper output that is not a plain file', out);
    return file;
  }

  /**
   * Meson's scripts as the meson at `tool` imports them, by content hash; found once by asking its Python,
   * then cached by the stat of meson and of each script.
   */
  private scriptsOf(tool: string): Scripts {
    const hit = this.scripts.get(tool);
    if (hit) return hit;
    const key = stampedKey(tool);
    const entry = path.join(this.ctx.store.cacheDir, 'infer', 'meson', key);
    let found: Scripts | undefined;
    try {
      const c = JSON.parse(fs.readFileSync(entry, 'utf8')) as { files: [string, string, string, string][] };
      if (c.files.every(([, f, s]) => statStamp(f) === s))
        found = Object.fromEntries(c.files.map(([k, , , h]) => [k, h]));
    } catch {
      // not cached, or a script changed
    }
    if (found === undefined) {
      const files = locateScripts(tool);
      found = Object.fromEntries(files.map(([k, , , h]) => [k, h]));
      saveCache(entry, { files });
    }
    this.scripts.set(tool, found);
    return found;
  }

  /** A program and its shared libraries (the program first), as thunk inputs; once per run. */
  private closure(program: string): ThunkInput[] {
    let c = this.closures.get(program);
    if (c === undefined) {
      c = closureInputs(this.ctx.store, path.join(this.ctx.store.cacheDir, 'infer'), program);
      this.closures.set(program, c);
    }
    return c;
  }
}

/** [kind, file, stat stamp, sha256] of the two scripts the meson at `tool` imports (its Python says where). */
function locateScripts(tool: string): [string, string, string, string][] {
  const head = fs.readFileSync(tool).subarray(0, 256).toString('latin1');
  const m = /^#!\s*(\/\S+)(?:[ \t]+(\S+))?/.exec(head);
  if (!m || (m[2] !== undefined && !/python/.test(m[1]! + m[2]))) real('a meson that is not a Python script', tool);
  const python = m[2] !== undefined && m[1]!.endsWith('/env') ? m[2] : m[1]!;
  // as /usr/bin/meson does: the script's own directory first when it holds mesonbuild (run uninstalled)
  const code = [
    'import sys, importlib.util as u',
    'from pathlib import Path',
    'd = Path(sys.argv[1]).resolve().parent',
    "if (d / 'mesonbuild').is_dir(): sys.path.insert(0, str(d))",
    "for n in ('meson_exe', 'symbolextractor'): print(u.find_spec('mesonbuild.scripts.' + n).origin)",
  ].join('\n');
  let outText: string;
  try {
    outText = execFileSync(python, ['-c', code, tool], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C', ...(process.env['HOME'] ? { HOME: process.env['HOME'] } : {}) },
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 20_000,
    });
  } catch {
    outText = '';
  }
  const [exe, syms] = outText.split('\n');
  const files: [string, string, string, string][] = [];
  for (const [k, f] of [
    ['exe', exe],
    ['symbolextractor', syms],
  ] as const) {
    if (!f || !path.isAbsolute(f)) continue;
    const stamp = statStamp(f);
    const hash = crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    files.push([k, f, stamp, hash]);
  }
  return files;
}

function dedupe(inputs: ThunkInput[]): ThunkInput[] {
  const seen = new Set<string>();
  return inputs.filter((i) => !seen.has(i.filename!) && seen.add(i.filename!));
}

/**
 * What Meson's `gnu_syms` writes (1.0.1 to 1.12), from the outputs of `readelf -d` and `nm --dynamic --extern-only
 * --defined-only --format=posix`: the SONAME line, then per symbol its name and type (and size for data).
 * Only plain ASCII text is taken (Python decodes, splits on Unicode whitespace and folds `\r`); anything
 * that would make the script fail, or write an empty file, runs the real one.
 */
export function symbolsFile(readelf: string, nm: string): string {
  if (!/^[\t\n\x20-\x7e]*$/.test(readelf) || !/^[\t\n\x20-\x7e]*$/.test(nm))
    real('a Meson symbolextractor on output gg does not model');
  if (readelf === '' || nm === '') real('a Meson symbolextractor on output gg does not model', 'empty');
  const result = readelf.split('\n').filter((l) => l.includes('SONAME'));
  if (result.length > 1) real('a Meson symbolextractor on output gg does not model', 'two SONAME lines');
  for (const line of nm.split('\n')) {
    if (line === '') continue;
    const f = line.split(/[ \t]+/).filter((x) => x !== '');
    if (f.length < 2) real('a Meson symbolextractor on output gg does not model', line);
    const entry = f.slice(0, 2);
    if (['B', 'G', 'D'].includes(f[1]!.toUpperCase()) && f.length >= 4) entry.push(f[3]!);
    result.push(entry.join(' '));
  }
  return `${result.join('\n')}\n`;
}

/**
 * Writes `content` at `file` unless it holds exactly that already (Meson's wrappers leave an unchanged file
 * untouched: ninja's `restat` then skips what depends on it). A new content goes through a temporary file
 * and a rename, so an interrupted build never leaves half of it; the old file's mode is kept. `text`: the
 * old file is compared as Meson reads it in text mode (UTF-8, newlines folded), so one it would read
 * differently (or fail to) runs the real wrapper.
 */
function writeIfChanged(file: string, content: Buffer, text = false): void {
  let old: Buffer | undefined;
  let mode = 0o666 & ~process.umask();
  try {
    old = fs.readFileSync(file);
    mode = fs.statSync(file).mode & 0o7777;
  } catch {
    old = undefined;
  }
  if (old !== undefined && text && (old.includes(13) || !isUtf8(old)))
    real('a Meson wrapper output gg does not compare as Meson does', file);
  if (old !== undefined && old.equals(content)) return;
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.gg-${process.pid}-${crypto.randomBytes(4).toString('hex')}`,
  );
  try {
    fs.writeFileSync(tmp, content, { mode, flag: 'wx' });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}
