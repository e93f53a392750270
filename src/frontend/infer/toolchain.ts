/**
 * Hermetic toolchains: everything a compiler driver touches, discovered once per compiler and cached, then
 * declared (at absolute paths) in every thunk, so a jail holding only declared files compiles and links.
 *
 * - programs: the driver, `-print-prog-name` of cc1/cc1plus/collect2/lto-wrapper/lto1/as/ld, the LTO plugin;
 * - their shared libraries and the dynamic loader (ldd);
 * - what the linker opens for a plain, a shared, a static, a -pthread -lm and (for C++) a C++ link
 *   (`-Wl,-t`): crt files, libc/libgcc archives, linker scripts such as libc.so and what they name; and, apart,
 *   what links with flags that add files of their own open beyond that (LINK_EXTRAS: only a link with such a
 *   flag declares them);
 * - the library search directories (`-print-search-dirs`), for resolving the build's `-l` flags.
 * The cache file is keyed by the driver's path and stat; each entry is re-verified by content on load.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ELF_MAGIC, fileHead } from '../../ir/elf-interpreter.js';
import { executableClosure, type ClosureFile } from '../executable-closure.js';
import { isThunkName, splitTag } from '../../ir/name.js';
import { parseThunk, type ThunkInput } from '../../ir/thunk.js';
import { readPrivateFile, storeHostFiles, type HostFiles } from '../../store/host-pool.js';
import type { LocalStore } from '../../store/local-store.js';
import { findOnPath } from './model-dir.js';
import { real } from './model.js';

const run = promisify(execFile);

export interface Toolchain {
  /** Path the driver is found at on the real PATH, used as argv[0] and its declared file name. */
  driver: string;
  driverName: string;
  /** Inputs (absolute file names) for each kind of step. */
  preprocess: ThunkInput[];
  compile: ThunkInput[];
  assemble: ThunkInput[];
  /**
   * The link's files and the library search directories. Discovered apart from the rest (trace links, ~0.5 s),
   * started in the background as soon as the compile part is known: a build's first compile need not wait
   * for it, and its first link comes after compiles.
   */
  linking(): Promise<{ link: ThunkInput[]; libDirs: string[]; extras: Partial<Record<LinkExtra, ThunkInput[]>> }>;
  env: string[];
  /**
   * The compiler propers in `compile` (cc1, cc1plus; each ~35 MB): a compile declares only those its driver
   * runs for its source's language (`propersFor`), so a C build never stores or stages cc1plus.
   */
  propers: string[];
}

/** The sanitizers whose runtimes LINK_EXTRAS.sanitize traces: a link asking for any other runs for real. */
export const TRACED_SANITIZERS: readonly string[] = ['address', 'undefined'];

/**
 * Link flags that make the driver add files of its own (gcc's specs), each traced by a link of its own: a link
 * with such a flag (linkExtrasOf) declares what that link opened beyond the plain ones.
 */
export const LINK_EXTRAS = {
  'fast-math': ['-ffast-math'], // crtfastmath.o (also -Ofast, -funsafe-math-optimizations)
  pg: ['-pg'], // gcrt1.o
  'static-pie': ['-static-pie'], // rcrt1.o
  openmp: ['-fopenmp'], // libgomp, crtoffload*.o (and the libgomp.spec the driver reads)
  sanitize: [`-fsanitize=${TRACED_SANITIZERS.join(',')}`], // libasan, libubsan
} as const;
export type LinkExtra = keyof typeof LINK_EXTRAS;

/** The LINK_EXTRAS a link's flags call for. */
export function linkExtrasOf(flags: readonly string[]): LinkExtra[] {
  const out = new Set<LinkExtra>();
  for (const f of flags) {
    if (f === '-ffast-math' || f === '-Ofast' || f === '-funsafe-math-optimizations' || f === '-mdaz-ftz')
      out.add('fast-math');
    else if (f === '-p' || f === '-pg') out.add('pg');
    else if (f === '-static-pie') out.add('static-pie');
    else if (f === '-fopenmp' || f === '-fopenacc' || f.startsWith('-ftree-parallelize-loops=')) out.add('openmp');
    else if (f.startsWith('-fsanitize=')) out.add('sanitize');
  }
  return [...out];
}

interface LinkPart {
  files: string[];
  libDirs: string[];
  extras?: Partial<Record<LinkExtra, string[]>>;
}

/** Which compiler made an object: its compile thunk's function (driver) hash and the driver's file name. */
interface Maker {
  fn: string;
  driver: string | undefined;
}

interface CachedToolchain {
  key: string;
  driver: string;
  files: Record<'preprocess' | 'compile' | 'assemble', string[]>;
  names: Record<string, string>;
  /** The driver and specs, and the programs a link runs: where the link part's discovery starts. */
  common: string[];
  linkProgs: string[];
  /** The link part, once discovered. */
  link?: LinkPart;
  propers: string[];
  /** GCC's LTO plugin (-print-file-name=liblto_plugin.so), when the driver is GCC's. */
  ltoPlugin?: string;
}

export interface SimpleTool {
  program: string;
  programName: string;
  inputs: ThunkInput[];
  env: string[];
}

function isElf(file: string): boolean {
  try {
    return fileHead(file, 4).toString('latin1') === ELF_MAGIC;
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Shared libraries (and the loader) of ELF files, as ldd resolves them. */
export async function sharedLibraries(files: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const elves = files.filter(isElf);
  if (elves.length === 0) return [];
  let out = '';
  try {
    out = (await run('ldd', elves, { env, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
    if (m && isFile(m[1]!)) libs.add(path.normalize(m[1]!));
  }
  return [...libs];
}

/**
 * sharedLibraries, cached in `inferCacheDir`/libs/ under the files' paths and stats: every gg infer links
 * against the same system libraries and runs the same ar, so ldd runs once, not once per run.
 */
export async function cachedSharedLibraries(
  inferCacheDir: string,
  files: string[],
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const stamp = files.map((f) => {
    const st = fs.statSync(f);
    return `${f}:${st.size}:${st.mtimeMs}:${st.ino}`;
  });
  const key = crypto.createHash('sha256').update(stamp.join('\0')).digest('hex').slice(0, 32);
  const entry = path.join(inferCacheDir, 'libs', key);
  try {
    const known = JSON.parse(readPrivateFile(entry)?.toString('utf8') ?? 'null') as { stamp: string[]; libs: string[] };
    if (known.stamp.join('\0') === stamp.join('\0') && known.libs.every(isFile)) return known.libs;
  } catch {
    // not cached (or unreadable): ask ldd
  }
  const libs = await sharedLibraries(files, env);
  saveCache(entry, { stamp, libs });
  return libs;
}

/** A file's identity for caches of what is derived from it: a rewrite or a replacement changes it. */
export function statStamp(f: string): string {
  const st = fs.statSync(f);
  return `${st.size}:${st.mtimeMs}:${st.ino}:${st.dev}`;
}

/** A cache entry's name for what is derived from `file` as it is now (its path and statStamp). */
export function stampedKey(file: string): string {
  return crypto
    .createHash('sha256')
    .update(`${file}\0${statStamp(file)}`)
    .digest('hex')
    .slice(0, 32);
}

/**
 * executableClosure, cached in `inferCacheDir`/closures/ under the program's path and stat, and checked
 * against the stat of every file it names: a rebuild that runs the same generators (or /bin/sh) again asks
 * the loader (`ld.so --list`, a process per ELF file) nothing.
 */
export function cachedClosure(inferCacheDir: string, program: string): ClosureFile[] {
  const key = stampedKey(program);
  const entry = path.join(inferCacheDir, 'closures', key);
  try {
    const known = JSON.parse(fs.readFileSync(entry, 'utf8')) as { files: ClosureFile[]; stamps: string[] };
    if (known.files.every((f, i) => statStamp(f.hostPath) === known.stamps[i])) return known.files;
  } catch {
    // not cached, or a file it names changed or is gone: ask the loader
  }
  const files = executableClosure(program);
  saveCache(entry, { files, stamps: files.map((f) => statStamp(f.hostPath)) });
  return files;
}

/** cachedClosure as thunk inputs, each file put in `store` (the program first). */
export function closureInputs(store: LocalStore, inferCacheDir: string, program: string): ThunkInput[] {
  return cachedClosure(inferCacheDir, program).map((f) => ({
    name: store.putFileSync(f.hostPath).name,
    filename: f.filename,
  }));
}

/** The absolute paths and `-l` names a GNU ld script refers to. */
export function linkerScriptRefs(text: string): { paths: string[]; libs: string[]; names: string[] } {
  const body = text.replace(/\/\*[\s\S]*?\*\//g, ' ');
  const paths: string[] = [];
  const libs: string[] = [];
  const names: string[] = [];
  for (const tok of body.split(/[\s(),]+/)) {
    if (tok.startsWith('/')) paths.push(tok);
    else if (tok.startsWith('-l')) libs.push(tok.slice(2));
    else if (/^lib.*\.(so|a)(\.\d+)*$/.test(tok)) names.push(tok);
  }
  return { paths, libs, names };
}

export function isLinkerScript(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(256);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    fs.closeSync(fd);
    const head = b.subarray(0, n).toString('latin1');
    return (
      !head.startsWith('\x7fELF') &&
      !head.startsWith('!<arch>') &&
      /(GROUP|INPUT|OUTPUT_FORMAT|SEARCH_DIR)\s*\(/.test(head.replace(/\/\*[\s\S]*?\*\//g, ''))
    );
  } catch {
    return false;
  }
}

const uniq = (l: string[]): string[] => [...new Set(l.map((p) => path.normalize(p)))].sort();

/** Write a cache file atomically. */
function save(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file);
}

/** save, into a directory made as needed, at best: a cache that cannot be written is only asked again. */
export function saveCache(file: string, value: unknown): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    save(file, value);
  } catch {
    // a cache
  }
}

export class ToolchainCache {
  private readonly memo = new Map<string, Promise<Toolchain>>();
  private readonly simple = new Map<string, Promise<SimpleTool>>();
  /** What `driver -### [-x LANG] -c gg-probe.EXT` names as programs (absolute paths), per driver, -x and extension. */
  private readonly propersRun = new Map<string, Promise<Set<string> | undefined>>();
  /** Drivers (store names) of the GCC toolchains loaded in this process -> the real path of their LTO plugin. */
  private readonly gcc = new Map<string, string>();
  private readonly dir: string;
  /** Where toolchains/ and libs/ (ldd's answers) are kept. */
  private readonly cacheDir: string;

  /**
   * `files` puts host files into the store (through the user's pool when there is one); `sharedDir`, a
   * directory only this user may write (host-pool.ts), keeps discovered toolchains and `ldd`'s answers for
   * every `.gg` of the user (else they are kept in this `.gg`): a fresh store then runs no discovery and no
   * `ldd` for the system libraries a link names, and links the files.
   */
  constructor(
    private readonly store: LocalStore,
    inferCacheDir: string,
    private readonly realPath: string,
    private readonly files: HostFiles = storeHostFiles(store),
    sharedDir?: string,
  ) {
    this.cacheDir = sharedDir ?? inferCacheDir;
    this.dir = path.join(this.cacheDir, 'toolchains');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  baseEnv(): string[] {
    const env = ['LANG=C', 'LC_ALL=C', 'PATH=/usr/local/bin:/usr/bin:/bin', 'TMPDIR=/tmp'];
    const sde = process.env['SOURCE_DATE_EPOCH'];
    env.push(`SOURCE_DATE_EPOCH=${sde ?? '0'}`);
    return env;
  }

  private hostEnv(): NodeJS.ProcessEnv {
    return { ...process.env, PATH: this.realPath, LANG: 'C', LC_ALL: 'C' };
  }

  /** cachedSharedLibraries of host files (system libraries a link names, a tool and its plugins). */
  sharedLibraries(files: string[]): Promise<string[]> {
    return cachedSharedLibraries(this.cacheDir, files, this.hostEnv());
  }

  /** The toolchain of a compiler driver invoked as `tool` (gcc, cc, g++, ...). */
  compiler(tool: string): Promise<Toolchain> {
    let p = this.memo.get(tool);
    if (!p) {
      p = this.loadCompiler(tool);
      this.memo.set(tool, p);
      p.catch(() => this.memo.delete(tool));
    }
    return p;
  }

  private stamp(file: string): string {
    const st = fs.statSync(file);
    const real = fs.realpathSync(file);
    const rst = fs.statSync(real);
    return `${file}|${real}|${rst.size}|${rst.mtimeMs}|${st.ino}|v7`;
  }

  private async loadCompiler(tool: string): Promise<Toolchain> {
    const driver = findOnPath(tool, this.realPath);
    if (!driver) real('the tool is not on the real PATH', tool);
    const key = this.stamp(driver);
    const file = path.join(this.dir, crypto.createHash('sha256').update(key).digest('hex').slice(0, 32) + '.json');
    let cached: CachedToolchain | undefined;
    try {
      // (a file of ours no one else may write: it names the programs every thunk runs)
      cached = JSON.parse(readPrivateFile(file)?.toString('utf8') ?? 'null') as CachedToolchain;
      if (cached.key !== key || !this.verify(cached)) cached = undefined;
    } catch {
      cached = undefined;
    }
    if (!cached) {
      cached = await this.discoverCompile(driver, key);
      save(file, cached);
    }
    const c = cached;
    const names = c.names;
    const inputs = (list: string[]): ThunkInput[] => list.map((p) => ({ name: names[p]!, filename: p }));
    if (c.propers.length > 0 && c.ltoPlugin !== undefined) this.gcc.set(names[c.driver]!, c.ltoPlugin);
    const linkPart = (
      c.link
        ? Promise.resolve(c.link)
        : this.discoverLink(tool, c).then((link) => {
            c.link = link;
            save(file, c);
            return link;
          })
    ).then((l) => ({
      link: inputs(l.files),
      libDirs: l.libDirs,
      extras: Object.fromEntries(Object.entries(l.extras ?? {}).map(([k, v]) => [k, inputs(v)])),
    }));
    linkPart.catch(() => {}); // (reported to the link that awaits it)
    return {
      driver: c.driver,
      driverName: names[c.driver]!,
      preprocess: inputs(c.files.preprocess),
      compile: inputs(c.files.compile),
      assemble: inputs(c.files.assemble),
      linking: () => linkPart,
      env: this.baseEnv(),
      propers: c.propers,
    };
  }

  /**
   * `tc.compile` without the compiler propers the driver does not run for a source with extension `ext`
   * (and `-x` flags `xl`): what `driver -### -c` names, asked once per driver, language and extension
   * (g++ compiles a .c file with cc1plus, gcc with cc1, a .s file needs neither). All of them when the
   * answer names none (a driver that does not print its commands).
   */
  async compileInputs(tc: Toolchain, ext: string, xl: readonly string[]): Promise<ThunkInput[]> {
    if (tc.propers.length === 0) return tc.compile;
    // (the propers are stored here, on first use: discovery only named them)
    const named = await this.programsRun(tc.driver, ext, xl);
    const found = named === undefined ? [] : tc.propers.filter((p) => named.has(p));
    const keep =
      found.length > 0 || [...(named ?? [])].some((n) => /\/(as|cc1\w*)$/.test(n))
        ? new Set(found)
        : new Set(tc.propers);
    const list = tc.compile.filter((i) => !tc.propers.includes(i.filename!) || keep.has(i.filename!));
    for (const i of list) if (keep.has(i.filename!) && !this.store.hasSync(i.name)) this.files.put(i.filename!, i.name);
    return list;
  }

  /**
   * Starts the `-###` query compileInputs will need for `tool`'s driver, before the toolchain is loaded: on a
   * fresh store, loading it links (and, after the user's pool changed, hashes again) ~50 MB of compiler, and
   * the query's process then runs beside that instead of after it.
   */
  askPrograms(tool: string, ext: string, xl: readonly string[]): Promise<unknown> {
    const driver = findOnPath(tool, this.realPath);
    return driver === undefined ? Promise.resolve() : this.programsRun(driver, ext, xl);
  }

  /** The programs `driver -### [xl] -c gg-probe.EXT` names (absolute paths); undefined when it fails. */
  private programsRun(driver: string, ext: string, xl: readonly string[]): Promise<Set<string> | undefined> {
    const key = `${driver}\0${xl.join(' ')}\0${ext}`;
    let named = this.propersRun.get(key);
    if (!named) {
      named = run(driver, ['-###', ...xl, '-c', `gg-probe${ext}`], { env: this.hostEnv(), cwd: os.tmpdir() })
        .then(({ stderr }) => {
          const programs = new Set<string>();
          for (const line of stderr.split('\n')) {
            const first = /^ "?([^" ]+)/.exec(line)?.[1];
            if (first !== undefined && path.isAbsolute(first)) programs.add(path.normalize(first));
          }
          return programs;
        })
        .catch(() => undefined);
      this.propersRun.set(key, named);
    }
    return named;
  }

  /** Every file still has the content recorded (stat-keyed hash cache: cheap), and its blob is stored. */
  private verify(c: CachedToolchain): boolean {
    for (const [p, name] of Object.entries(c.names)) {
      try {
        if (this.files.nameOf(p) !== name) return false;
        // (a compiler proper is stored when a compile first declares it: compileInputs)
        if (!c.propers.includes(p) && !this.store.hasSync(name)) this.files.put(p, name);
      } catch {
        return false;
      }
    }
    return true;
  }

  private async printProg(driver: string, name: string): Promise<string | undefined> {
    for (const query of ['-print-prog-name', '-print-file-name']) {
      const { stdout } = await run(driver, [`${query}=${name}`], { env: this.hostEnv() });
      const p = stdout.trim();
      if (path.isAbsolute(p)) {
        if (isFile(p)) return path.normalize(p);
        continue;
      }
      const found = name.endsWith('.so') ? undefined : findOnPath(p, this.realPath);
      if (found) return found;
    }
    return undefined;
  }

  /** The compile part: programs (print-prog-name), their libraries, the compile's and assembler's files. */
  private async discoverCompile(driver: string, key: string): Promise<CachedToolchain> {
    const env = this.hostEnv();
    const prog = async (n: string): Promise<string[]> => {
      const p = await this.printProg(driver, n);
      return p ? [p] : [];
    };
    const [[cc1, cc1plus, collect2, ltoWrapper, lto1, as, ld, plugin], specs] = await Promise.all([
      Promise.all(['cc1', 'cc1plus', 'collect2', 'lto-wrapper', 'lto1', 'as', 'ld', 'liblto_plugin.so'].map(prog)),
      run(driver, ['-print-file-name=specs'], { env }).then((r) => r.stdout.trim()),
    ]);
    const common = [driver, ...(path.isAbsolute(specs) && isFile(specs) ? [specs] : [])];
    const cpp = [...cc1!, ...cc1plus!];
    const assemble = [...as!];
    // A link runs no compiler proper: sources in a compile-and-link command are compiles of their own, and
    // LTO runs lto1 (through lto-wrapper and the driver).
    const linkProgs = [...collect2!, ...ltoWrapper!, ...lto1!, ...ld!, ...plugin!, ...as!];
    const [cppLibs, asLibs] = await Promise.all([
      sharedLibraries([driver, ...cpp], env),
      sharedLibraries([driver, ...assemble], env),
    ]);
    const files = {
      preprocess: uniq([...common, ...cpp, ...cppLibs]),
      compile: uniq([...common, ...cpp, ...cppLibs]),
      assemble: uniq([...common, ...assemble, ...asLibs]),
    };
    const names: Record<string, string> = {};
    const propers = new Set(cpp.map((p) => path.normalize(p)));
    for (const p of new Set(Object.values(files).flat()))
      names[p] = propers.has(p) ? this.files.nameOf(p) : this.files.put(p);
    return {
      key,
      driver,
      files,
      names,
      common: uniq(common),
      linkProgs: uniq(linkProgs),
      propers: [...propers],
      ...(plugin![0] !== undefined ? { ltoPlugin: fs.realpathSync(plugin![0]) } : {}),
    };
  }

  /**
   * The link part: what the linker opens for typical links, the libraries of it all, the search directories;
   * and apart, what each of LINK_EXTRAS adds.
   */
  private async discoverLink(tool: string, c: CachedToolchain): Promise<LinkPart> {
    const env = this.hostEnv();
    const [traced, libDirs, linkLibs] = await Promise.all([
      this.traceLinks(tool, c.driver),
      this.libraryDirs(c.driver),
      sharedLibraries([c.driver, ...c.linkProgs], env),
    ]);
    const withLibs = async (list: string[]): Promise<string[]> => [
      ...list,
      ...(await sharedLibraries(
        list.filter((f) => /\.so(\.|$)/.test(f)),
        env,
      )),
    ];
    const files = uniq([...c.common, ...c.linkProgs, ...linkLibs, ...(await withLibs(traced.files))]);
    const base = new Set(files);
    const extras: Partial<Record<LinkExtra, string[]>> = {};
    for (const [k, list] of Object.entries(traced.extras) as [LinkExtra, string[]][])
      extras[k] = uniq(await withLibs(list)).filter((f) => !base.has(f));
    for (const p of [...files, ...Object.values(extras).flat()]) c.names[p] ??= this.files.put(p);
    return { files, libDirs, extras };
  }

  private async libraryDirs(driver: string): Promise<string[]> {
    const { stdout } = await run(driver, ['-print-search-dirs'], { env: this.hostEnv() });
    const line = stdout.split('\n').find((l) => l.startsWith('libraries:')) ?? '';
    const dirs = line
      .replace(/^libraries:\s*=?/, '')
      .split(':')
      .filter(Boolean)
      .map((d) => path.normalize(d));
    return [...new Set(dirs)].filter((d) => {
      try {
        return fs.statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
  }

  /**
   * Files the linker opens for typical links (crt files, libc, libgcc, linker scripts), and apart, what a link
   * with each of LINK_EXTRAS opens beyond those.
   */
  private async traceLinks(
    tool: string,
    driver: string,
  ): Promise<{ files: string[]; extras: Partial<Record<LinkExtra, string[]>> }> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-infer-trace-'));
    const cxx = /\+\+/.test(tool);
    const src = path.join(tmp, cxx ? 't.cc' : 't.c');
    fs.writeFileSync(
      src,
      cxx ? '#include <iostream>\nint main(){std::cout<<1;return 0;}\n' : 'int main(void){return 0;}\n',
    );
    const variants: [LinkExtra | undefined, readonly string[]][] = [
      [undefined, []],
      [undefined, ['-shared', '-fPIC']],
      [undefined, ['-no-pie']],
      [undefined, ['-static']],
      [undefined, ['-pthread', '-lm', '-ldl', '-lrt', '-lutil']],
      [undefined, ['-static-libgcc']],
      ...(Object.entries(LINK_EXTRAS) as [LinkExtra, readonly string[]][]),
    ];
    const opened = await Promise.all(
      variants.map(async ([, v], i) => {
        const found = new Set<string>();
        let out = '';
        try {
          const r = await run(driver, [...v, src, '-o', path.join(tmp, `out${i}`), '-Wl,-t'], {
            env: this.hostEnv(),
            maxBuffer: 16 << 20,
          });
          out = r.stdout + r.stderr;
        } catch {
          return found; // a variant this toolchain cannot do (e.g. no static libc): its files are not needed
        }
        for (const m of out.matchAll(/\/[^\s():]+/g)) {
          const p = path.normalize(m[0]);
          if (p.startsWith(tmp) || !isFile(p)) continue;
          found.add(p);
        }
        // Linker scripts name more files (libc.so -> libc.so.6, libc_nonshared.a, the loader).
        for (const f of [...found]) {
          if (!isLinkerScript(f)) continue;
          for (const p of linkerScriptRefs(fs.readFileSync(f, 'latin1')).paths)
            if (isFile(p)) found.add(path.normalize(p));
        }
        return found;
      }),
    );
    fs.rmSync(tmp, { recursive: true, force: true });
    const files = new Set<string>();
    const extras: Partial<Record<LinkExtra, string[]>> = {};
    variants.forEach(([extra], i) => {
      if (extra === undefined) for (const f of opened[i]!) files.add(f);
    });
    variants.forEach(([extra], i) => {
      if (extra !== undefined) extras[extra] = [...opened[i]!].filter((f) => !files.has(f));
    });
    // The driver itself reads libgomp.spec for an -fopenmp link (the linker's trace does not show it).
    try {
      const spec = (await run(driver, ['-print-file-name=libgomp.spec'], { env: this.hostEnv() })).stdout.trim();
      if (path.isAbsolute(spec) && isFile(spec)) (extras.openmp ??= []).push(path.normalize(spec));
    } catch {
      // no OpenMP in this toolchain
    }
    return { files: [...files], extras };
  }

  /**
   * A plain tool (ar, ranlib, strip): the program, its libraries, and the bfd plugins it may load. A plugin
   * reads only the objects it claims (GCC's LTO plugin: ELF objects with GNU LTO sections; LLVM's LLVMgold,
   * which links all of LLVM, ~170 MB with its libraries: LLVM bitcode). When every input is the object of a
   * compile by a GCC toolchain loaded in this run (`gccMade`), only that GCC's plugin is declared, as its links
   * declare it; otherwise (another compiler's objects, real files) all of them.
   */
  async tool(tool: string, inputs: readonly ThunkInput[] = []): Promise<SimpleTool> {
    const makers = this.makersOf(inputs);
    await this.loadCompilers(makers);
    const gccPlugins = this.gccPlugins(makers);
    const memoKey = `${tool}\0${gccPlugins?.join('\0') ?? '*'}`;
    let p = this.simple.get(memoKey);
    if (!p) {
      p = (async () => {
        const program = findOnPath(tool, this.realPath);
        if (!program) real('the tool is not on the real PATH', tool);
        const found: string[] = [];
        for (const d of ['/usr/lib/bfd-plugins', '/usr/local/lib/bfd-plugins']) {
          try {
            for (const f of fs.readdirSync(d)) if (isFile(path.join(d, f))) found.push(path.join(d, f));
          } catch {
            // none
          }
        }
        const mine = gccPlugins && found.filter((f) => gccPlugins.includes(fs.realpathSync(f)));
        // (GCC's own plugin not among them: another version's may read its objects, so all of them)
        const plugins = mine && mine.length > 0 ? mine : found;
        const libs = await this.sharedLibraries([program, ...plugins]);
        const files = [...new Set([program, ...plugins, ...libs])];
        return {
          program,
          programName: this.files.put(program),
          inputs: files.map((f) => ({ name: this.files.put(f), filename: path.normalize(f) })),
          env: this.baseEnv(),
        };
      })();
      this.simple.set(memoKey, p);
      p.catch(() => this.simple.delete(memoKey));
    }
    return p;
  }

  /**
   * The function (driver hash and file name) of the thunk behind each of `inputs`, undefined for an input that
   * is no decodable thunk. Parsed, not validated: the answer only selects which plugins to declare, and an
   * archive of many objects would spend most of its modelling on validation.
   */
  private makersOf(inputs: readonly ThunkInput[]): (Maker | undefined)[] {
    return inputs.map((i) => {
      const { name } = splitTag(i.name);
      if (!isThunkName(name)) return undefined;
      try {
        const t = parseThunk(this.store.getSync(name));
        return { fn: t.function.hash, driver: t.executables.find((e) => e.name === t.function.hash)?.filename };
      } catch {
        return undefined;
      }
    });
  }

  /**
   * Loads the toolchains of the compilers whose thunks made the inputs (by their drivers' names), for
   * gccPlugins: a run whose compiles the client replayed by itself (fast-answer.ts) loaded none, and its
   * archive would otherwise declare every plugin: another thunk than the memoized one.
   */
  private async loadCompilers(makers: readonly (Maker | undefined)[]): Promise<void> {
    const tools = new Set<string>();
    for (const m of makers) {
      if (m === undefined || this.gcc.has(m.fn)) continue;
      if (m.driver !== undefined && path.isAbsolute(m.driver)) tools.add(path.basename(m.driver));
    }
    await Promise.all([...tools].map((t) => this.compiler(t).catch(() => undefined)));
  }

  /**
   * The LTO plugins (real paths) of the GCC toolchains whose compile thunks made every input, or undefined
   * when some input is not such an object (a file, another tool's output) or there are none.
   */
  private gccPlugins(makers: readonly (Maker | undefined)[]): string[] | undefined {
    if (makers.length === 0) return undefined;
    const plugins = new Set<string>();
    for (const m of makers) {
      const plugin = m && this.gcc.get(m.fn);
      if (plugin === undefined) return undefined;
      plugins.add(plugin);
    }
    return [...plugins].sort();
  }
}
