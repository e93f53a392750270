/**
 * Header discovery: the real compiler's `-M` lists every file a preprocess reads. The list is cached by the
 * compiler, the build directory, the preprocessing flags and the source's content, and a cached list is
 * used only while every header in it still has the content recorded (stat-keyed hashes: cheap), so a second
 * infer of an unchanged tree runs no compiler at all.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LocalStore } from '../../store/local-store.js';
import { real } from './model.js';

const run = promisify(execFile);

export interface HeaderList {
  /** Paths as the compiler printed them (relative to the build directory, or absolute), in its order. */
  headers: string[];
  /** Content names of the headers (same order), verified just now. */
  names: string[];
  cached: boolean;
  /** Set when discovery also wrote the preprocessed output to the path asked for. */
  preprocessed?: boolean;
}

interface CacheEntry {
  headers: [string, string][];
}

/** Split a make dependency rule into its prerequisites (the part after the first unescaped `:`). */
export function parseDepFile(text: string): string[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const firstRule = joined.split('\n')[0] ?? '';
  let i = 0;
  // skip the target(s): up to the first ':' not part of a drive letter or escape
  while (i < firstRule.length && !(firstRule[i] === ':' && firstRule[i - 1] !== '\\')) i++;
  const rest = firstRule.slice(i + 1);
  const deps: string[] = [];
  let cur = '';
  for (let j = 0; j < rest.length; j++) {
    const c = rest[j]!;
    if (c === '\\' && rest[j + 1] === ' ') {
      cur += ' ';
      j++;
    } else if (c === '$' && rest[j + 1] === '$') {
      cur += '$';
      j++;
    } else if (c === ' ' || c === '\t') {
      if (cur) deps.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) deps.push(cur);
  return deps;
}

/** `__has_include("x")` / `__has_include_next(<x>)` with a literal name (a macro name cannot be followed). */
const HAS_INCLUDE = /__has_include(?:_next)?\s*\(\s*(?:"([^"\n]+)"|<([^>\n]+)>)\s*\)/g;

/**
 * Text that makes the compiler read a file `-MD` does not list: inline assembly's `.incbin`/`.include`, and
 * `#pragma GCC dependency` (which compares the named file's date).
 */
const READS_UNLISTED = /\.inc(?:bin|lude)\s+\\?"|#\s*pragma\s+GCC\s+dependency/;

export function readsUnlistedText(text: string): boolean {
  return READS_UNLISTED.test(text);
}

interface Probe {
  quote: boolean;
  name: string;
}

export class HeaderDepsCache {
  private readonly dir: string;
  /** Per run: the __has_include probes of a file's content, and a preprocess's search directories. */
  private readonly probeCache = new Map<string, Probe[]>();
  private readonly searchCache = new Map<string, Promise<{ quote: string[]; angle: string[] }>>();
  private readonly unlistedCache = new Map<string, boolean>();

  constructor(
    store: LocalStore,
    inferCacheDir: string,
    /** Content name of an absolute path (cached per run for files that cannot change during it). */
    private readonly nameOf: (abs: string) => string = (abs) => store.hashCache.hashFile(abs),
  ) {
    this.dir = path.join(inferCacheDir, 'deps');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Headers read when `driver ppArgs... source` preprocesses in `cwd`. `ppArgs` must hold only the flags
   * that matter to preprocessing (no -o, no dependency flags).
   */
  async headers(
    driver: string,
    cwd: string,
    ppArgs: string[],
    source: string,
    env: NodeJS.ProcessEnv,
    preprocessTo?: string,
  ): Promise<HeaderList> {
    const sourceName = this.nameOf(path.resolve(cwd, source));
    const key = crypto
      .createHash('sha256')
      .update(JSON.stringify([driver, cwd, ppArgs, source, sourceName]))
      .digest('hex')
      .slice(0, 40);
    const file = path.join(this.dir, key);
    try {
      const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheEntry;
      if (entry.headers.every(([p, name]) => this.sameContent(path.resolve(cwd, p), name))) {
        return { headers: entry.headers.map(([p]) => p), names: entry.headers.map(([, n]) => n), cached: true };
      }
    } catch {
      // no entry, or a damaged one: discover again
    }
    const headers = await this.discover(driver, cwd, ppArgs, source, env, preprocessTo);
    const entry: CacheEntry = { headers: headers.map((h) => [h, this.nameOf(path.resolve(cwd, h))]) };
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(entry));
    fs.renameSync(tmp, file);
    return {
      headers,
      names: entry.headers.map(([, n]) => n),
      cached: false,
      ...(preprocessTo ? { preprocessed: true } : {}),
    };
  }

  private sameContent(p: string, name: string): boolean {
    try {
      return this.nameOf(p) === name;
    } catch {
      return false;
    }
  }

  /**
   * `-M` lists what preprocessing reads. With `preprocessTo`, the preprocess itself runs instead (`-E -o
   * FILE -MD`: the same output, the list as a side effect), so its result can seed the memo.
   */
  private async discover(
    driver: string,
    cwd: string,
    ppArgs: string[],
    source: string,
    env: NodeJS.ProcessEnv,
    preprocessTo?: string,
  ): Promise<string[]> {
    const tmp = path.join(os.tmpdir(), `gg-infer-deps-${process.pid}-${crypto.randomBytes(6).toString('hex')}.d`);
    const args = preprocessTo
      ? [...ppArgs, '-E', source, '-o', preprocessTo, '-MD', '-MT', 'gg', '-MF', tmp]
      : [...ppArgs, '-M', '-MT', 'gg', '-MF', tmp, source];
    try {
      await run(driver, args, { cwd, env, maxBuffer: 64 << 20 });
      const deps = parseDepFile(fs.readFileSync(tmp, 'utf8'));
      // The first prerequisite is the source itself.
      return deps.slice(1).filter((d) => d !== source);
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? '';
      return real('preprocessing failed (the real compiler reports it)', stderr.split('\n')[0] || (e as Error).message);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /**
   * Files that a `__has_include` in the source or its headers looks for and that exist (absolute paths).
   * gcc's dependency list names only what is included, so without them a jail would answer such a probe
   * "no" where the host answers "yes" (libstdc++'s atomicity.h probes <sys/single_threaded.h>): every
   * existing candidate, in every search directory, is declared. `names` are the files' content names when
   * the caller has them (a compile's header list comes with them), saving a stat of each.
   */
  async probedFiles(
    driver: string,
    cwd: string,
    ppArgs: string[],
    lang: string,
    files: string[],
    env: NodeJS.ProcessEnv,
    names?: readonly string[],
  ): Promise<string[]> {
    const found = new Set<string>();
    let dirs: { quote: string[]; angle: string[] } | undefined;
    for (const [i, f] of files.entries()) {
      const abs = path.resolve(cwd, f);
      const probes = this.probesOf(abs, names?.[i]);
      if (probes.length === 0) continue;
      dirs ??= await this.searchDirs(driver, cwd, ppArgs, lang, env);
      for (const p of probes) {
        for (const d of [...(p.quote ? [path.dirname(abs), ...dirs.quote] : []), ...dirs.angle]) {
          const c = path.resolve(cwd, d, p.name);
          try {
            if (fs.statSync(c).isFile()) found.add(c);
          } catch {
            // not there: the jail will not have it either
          }
        }
      }
    }
    return [...found];
  }

  /** Whether a file's text makes the compiler read a file it does not include (gcc-depend.ts), by content. */
  readsUnlisted(abs: string): boolean {
    const name = this.nameOf(abs);
    let v = this.unlistedCache.get(name);
    if (v === undefined) {
      v = readsUnlistedText(fs.readFileSync(abs, 'latin1'));
      this.unlistedCache.set(name, v);
    }
    return v;
  }

  private probesOf(abs: string, known?: string): Probe[] {
    let name: string;
    try {
      name = known ?? this.nameOf(abs);
    } catch {
      return [];
    }
    let probes = this.probeCache.get(name);
    if (!probes) {
      probes = [];
      const text = fs.readFileSync(abs, 'latin1');
      if (text.includes('__has_include')) {
        for (const m of text.matchAll(HAS_INCLUDE))
          probes.push(m[1] !== undefined ? { quote: true, name: m[1] } : { quote: false, name: m[2]! });
      }
      this.probeCache.set(name, probes);
    }
    return probes;
  }

  /** The include search directories of a preprocess, as `gcc -E -v` prints them. */
  searchDirs(
    driver: string,
    cwd: string,
    ppArgs: string[],
    lang: string,
    env: NodeJS.ProcessEnv,
  ): Promise<{ quote: string[]; angle: string[] }> {
    // Macros never move a search directory: without them, sources that differ only in their -D (one run of
    // the compiler per such source otherwise, each forked from this large process) share one run.
    ppArgs = withoutMacros(ppArgs);
    const key = JSON.stringify([driver, cwd, ppArgs, lang]);
    let p = this.searchCache.get(key);
    if (!p) {
      p = run(
        driver,
        [
          ...ppArgs.filter((a) => a !== '-x' && !/^(c|c\+\+|assembler-with-cpp)$/.test(a)),
          '-E',
          '-v',
          '-x',
          lang,
          '/dev/null',
          '-o',
          '/dev/null',
        ],
        { cwd, env, maxBuffer: 16 << 20 },
      ).then(
        ({ stderr }) => parseSearchDirs(stderr),
        () => ({ quote: [], angle: [] }),
      );
      this.searchCache.set(key, p);
    }
    return p;
  }
}

/** `args` less its macro definitions and undefinitions (`-D`/`-U`, with their values). */
export function withoutMacros(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-D' || args[i] === '-U') i++;
    else if (!/^-[DU]./.test(args[i]!)) out.push(args[i]!);
  }
  return out;
}

/** The `#include "..."` and `#include <...>` directory lists of `gcc -E -v` output. */
export function parseSearchDirs(text: string): { quote: string[]; angle: string[] } {
  const out = { quote: [] as string[], angle: [] as string[] };
  let into: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#include "..."')) into = out.quote;
    else if (line.startsWith('#include <...>')) into = out.angle;
    else if (line.startsWith('End of search list')) into = undefined;
    else if (into && line.startsWith(' ')) into.push(line.trim().replace(/ \(framework directory\)$/, ''));
  }
  return out;
}
