/**
 * Reading a gcc/g++/clang command line: which stage each flag belongs to, the inputs and their languages,
 * the output, the dependency-file flags. Anything not understood makes the command run for real
 * (`RunRealTool`), so a model never writes a thunk it is unsure of.
 */
import fs from 'node:fs';
import path from 'node:path';
import { real } from './model.js';

export type Lang = 'c' | 'c++' | 'cpp-output' | 'c++-cpp-output' | 'assembler' | 'assembler-with-cpp';

/**
 * Stage classes: P preprocess only; C preprocess+compile (and link, harmlessly, which LTO needs);
 * G and M (debug, machine) every stage; A assembler only; L link only; D dependency files; X dropped.
 */
export type FlagClass = 'P' | 'C' | 'G' | 'M' | 'A' | 'L' | 'D' | 'X';

export interface Flag {
  cls: FlagClass;
  args: string[];
}

export interface Input {
  path: string;
  /** A source language, or undefined for a linker input (object, archive, library). */
  lang?: Lang;
  /** Whether the language came from -x (then it is passed on explicitly). */
  explicit: boolean;
}

export type Item = { kind: 'flag'; flag: Flag } | { kind: 'input'; input: Input };

export interface DepFlags {
  md: boolean;
  mmd: boolean;
  mp: boolean;
  mf?: string;
  targets: { text: string; quote: boolean }[];
  /** -M / -MM without -MD: dependency output only, a query. */
  only: boolean;
}

export interface GccCommand {
  mode: 'link' | 'c' | 'S' | 'E';
  output?: string;
  items: Item[];
  inputs: Input[];
  dep: DepFlags;
  /** Files the link step reads besides its inputs (-T scripts, version scripts). */
  linkFiles: string[];
}

const WITH_ARG_P = new Set([
  '-I',
  '-iquote',
  '-isystem',
  '-idirafter',
  '-include',
  '-imacros',
  '-D',
  '-U',
  '-Xpreprocessor',
  '-iprefix',
  '-iwithprefix',
  '-iwithprefixbefore',
]);
const WITH_ARG_L = new Set(['-L', '-l', '-Xlinker', '-u', '-z', '-T']);
const SINGLE_P = new Set([
  '-nostdinc',
  '-nostdinc++',
  '-P',
  '-C',
  '-CC',
  '-undef',
  '-trigraphs',
  '-traditional-cpp',
  '-remap',
]);
const SINGLE_L = new Set([
  '-shared',
  '-static',
  '-static-pie',
  '-static-libgcc',
  '-static-libstdc++',
  '-shared-libgcc',
  '-rdynamic',
  '-pie',
  '-no-pie',
  '-s',
  '-nostdlib',
  '-nostartfiles',
  '-nodefaultlibs',
  '-nolibc',
  '-symbolic',
  '-Wl,--as-needed',
]);
const SINGLE_C = new Set([
  '-ansi',
  '-pedantic',
  '-pedantic-errors',
  '-w',
  '-pthread',
  '-fPIC',
  '-fpic',
  '-fPIE',
  '-fpie',
]);
const QUERY =
  /^(--version|--help.*|-v|-###|-dump.*|-print-.*|--print-.*|-d[A-Z]+|-H|-Q|--target-help|-fsyntax-only|-time.*|-save-temps.*|-fdump-.*)$/;
/** -f flags that read or write files of their own, or change the toolchain: the real tool runs. */
const F_REAL =
  /^-f(plugin|profile-use|profile-generate|profile-dir|auto-profile|save-optimization-record|compare-debug|callgraph-info|stack-usage|dump-|record-gcc-switches=|opt-info|debug-types-section-x|lto-partition=one-x)/;

const EXT_LANG: Record<string, Lang | 'real'> = {
  '.c': 'c',
  '.i': 'cpp-output',
  '.ii': 'c++-cpp-output',
  '.cc': 'c++',
  '.cp': 'c++',
  '.cxx': 'c++',
  '.cpp': 'c++',
  '.CPP': 'c++',
  '.c++': 'c++',
  '.C': 'c++',
  '.s': 'assembler',
  '.S': 'assembler-with-cpp',
  '.sx': 'assembler-with-cpp',
  '.h': 'real',
  '.hh': 'real',
  '.hpp': 'real',
  '.m': 'real',
  '.mm': 'real',
  '.f': 'real',
  '.f90': 'real',
  '.F': 'real',
  '.go': 'real',
  '.d': 'real',
  '.ads': 'real',
  '.adb': 'real',
  '.M': 'real',
  '.mi': 'real',
  '.for': 'real',
};

const X_LANG: Record<string, Lang | 'none'> = {
  c: 'c',
  'c++': 'c++',
  'cpp-output': 'cpp-output',
  'c-cpp-output': 'cpp-output',
  'c++-cpp-output': 'c++-cpp-output',
  assembler: 'assembler',
  'assembler-with-cpp': 'assembler-with-cpp',
  none: 'none',
};

/** Expand `@file` response files (gcc's quoting: whitespace separates, '' "" and \ quote). */
export function expandResponseFiles(args: string[], cwd: string, depth = 0): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith('@') || a.length === 1) {
      out.push(a);
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(cwd, a.slice(1)), 'utf8');
    } catch {
      out.push(a); // gcc keeps an unreadable @file as a literal argument
      continue;
    }
    if (depth > 8) real('response files nest too deeply');
    out.push(...expandResponseFiles(splitResponseFile(text), cwd, depth + 1));
  }
  return out;
}

export function splitResponseFile(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function langOf(file: string): Lang | 'real' | undefined {
  const ext = path.extname(file);
  return EXT_LANG[ext];
}

/** Parse argv[1..]; throws RunRealTool for queries and anything not understood. */
export function parseGcc(args: string[]): GccCommand {
  let mode: GccCommand['mode'] = 'link';
  let output: string | undefined;
  const items: Item[] = [];
  const inputs: Input[] = [];
  const linkFiles: string[] = [];
  const dep: DepFlags = { md: false, mmd: false, mp: false, targets: [], only: false };
  let xlang: Lang | undefined;
  let sawM = false;
  const flag = (cls: FlagClass, ...a: string[]): void => {
    items.push({ kind: 'flag', flag: { cls, args: a } });
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string => {
      if (i + 1 >= args.length) real('a flag is missing its argument', a);
      return args[++i]!;
    };
    if (a === '-' || a === '/dev/null') real('input from stdin or /dev/null');
    if (!a.startsWith('-') || a === '-') {
      const lang = xlang ?? langOf(a);
      if (lang === 'real') real('a source language not modelled', a);
      const input: Input = { path: a, explicit: xlang !== undefined, ...(lang ? { lang } : {}) };
      inputs.push(input);
      items.push({ kind: 'input', input });
      continue;
    }
    if (QUERY.test(a)) real('a query (--version, -print-*, -dump*, ...)', a);
    if (a === '-c') {
      mode = 'c';
      continue;
    }
    if (a === '-S') {
      if (mode !== 'c') mode = 'S';
      continue;
    }
    if (a === '-E') {
      mode = 'E';
      continue;
    }
    if (a === '-o') {
      output = next();
      continue;
    }
    if (a.startsWith('-o')) {
      output = a.slice(2);
      continue;
    }
    if (a === '-x') {
      const l = X_LANG[next()];
      if (l === undefined) real('a language (-x) not modelled', args[i]);
      xlang = l === 'none' ? undefined : l;
      continue;
    }
    if (a.startsWith('-x')) {
      const l = X_LANG[a.slice(2)];
      if (l === undefined) real('a flag not modelled', a);
      xlang = l === 'none' ? undefined : l;
      continue;
    }
    // dependency files
    if (a === '-MD') {
      dep.md = true;
      continue;
    }
    if (a === '-MMD') {
      dep.mmd = true;
      continue;
    }
    if (a === '-MP') {
      dep.mp = true;
      continue;
    }
    if (a === '-M' || a === '-MM') {
      sawM = true;
      continue;
    }
    if (a === '-MF') {
      dep.mf = next();
      continue;
    }
    if (a.startsWith('-MF')) {
      dep.mf = a.slice(3);
      continue;
    }
    if (a === '-MT' || a === '-MQ') {
      dep.targets.push({ text: next(), quote: a === '-MQ' });
      continue;
    }
    if (a.startsWith('-MT') || a.startsWith('-MQ')) {
      dep.targets.push({ text: a.slice(3), quote: a.startsWith('-MQ') });
      continue;
    }
    if (a === '-MG') real('-MG (missing headers as dependencies) is not modelled');
    // preprocessor
    if (WITH_ARG_P.has(a)) {
      flag('P', a, next());
      continue;
    }
    if (/^-(I|D|U)./.test(a) || /^-(iquote|isystem|idirafter|include|imacros)./.test(a) || a.startsWith('-Wp,')) {
      if (a.startsWith('-Wp,') && /,-M|,-MD|,-MMD/.test(a)) real('-Wp, writes dependency files', a);
      flag('P', a);
      continue;
    }
    if (SINGLE_P.has(a)) {
      flag('P', a);
      continue;
    }
    if (
      a === '-isysroot' ||
      a.startsWith('--sysroot') ||
      a === '-B' ||
      a.startsWith('-B') ||
      a.startsWith('-specs') ||
      a.startsWith('--specs')
    )
      real('a flag changes the toolchain', a);
    // linker
    if (WITH_ARG_L.has(a)) {
      const v = next();
      flag('L', a, v);
      if (a === '-T') linkFiles.push(v);
      continue;
    }
    if (/^-(L|l)./.test(a)) {
      flag('L', a);
      continue;
    }
    if (a.startsWith('-Wl,')) {
      const parts = a.slice(4).split(',');
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k]!;
        if (
          /^(-Map|--Map|--out-implib|--dependency-file|-M$|--print-map|--trace$|-t$|--verbose|-v$|--version$|--help$|--plugin$)/.test(
            p,
          )
        )
          real('the linker writes or prints more', a);
        const m =
          /^(?:--version-script|--dynamic-list|--script|-T|--retain-symbols-file|--just-symbols|-R)(?:=(.*))?$/.exec(p);
        if (m) {
          const f = m[1] ?? parts[k + 1];
          if (f !== undefined) linkFiles.push(f);
        }
      }
      flag('L', a);
      continue;
    }
    if (SINGLE_L.has(a)) {
      flag('L', a);
      continue;
    }
    if (a.startsWith('-fuse-ld=')) {
      if (a !== '-fuse-ld=bfd') real('a flag not modelled', a);
      flag('L', a);
      continue;
    }
    // assembler
    if (a.startsWith('-Wa,')) {
      if (/,-a|,--MD|,-o/.test(a)) real('the assembler writes more', a);
      flag('A', a);
      continue;
    }
    if (a === '-Xassembler') {
      flag('A', a, next());
      continue;
    }
    // every stage
    if (a.startsWith('-g')) {
      if (/split-dwarf/.test(a)) real('-gsplit-dwarf writes a .dwo file', a);
      flag('G', a);
      continue;
    }
    if (a.startsWith('-m')) {
      flag('M', a);
      continue;
    }
    // compile
    if (a.startsWith('-f')) {
      if (F_REAL.test(a)) real('a flag not modelled', a);
      flag(/^-f(debug|file)-prefix-map=/.test(a) ? 'G' : 'C', a);
      continue;
    }
    if (a === '--coverage') real('--coverage writes .gcno files');
    if (/^-O[0-3sgz]?$|^-Ofast$/.test(a)) {
      flag('C', a);
      continue;
    }
    if (a.startsWith('-std=') || a.startsWith('--std=')) {
      flag('C', a);
      continue;
    }
    if (a.startsWith('-W') && !a.startsWith('-Wl,') && !a.startsWith('-Wa,')) {
      flag('C', a);
      continue;
    }
    if (SINGLE_C.has(a)) {
      flag('C', a);
      continue;
    }
    if (a === '--param') {
      flag('C', a, next());
      continue;
    }
    if (a.startsWith('--param=')) {
      flag('C', a);
      continue;
    }
    if (a === '-pipe') continue;
    if (a.startsWith('-frandom-seed')) {
      flag('C', a);
      continue;
    }
    return real('an unknown flag', a);
  }
  if (sawM && !dep.md && !dep.mmd) dep.only = true;
  return { mode, ...(output !== undefined ? { output } : {}), items, inputs, dep, linkFiles };
}

/** Flags (in order) of the given classes. */
export function flagsOf(cmd: GccCommand, classes: readonly FlagClass[]): string[] {
  const out: string[] = [];
  for (const it of cmd.items) if (it.kind === 'flag' && classes.includes(it.flag.cls)) out.push(...it.flag.args);
  return out;
}
