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
  '-p', // profiling: mcount calls in the compile, gcrt1.o in the link (toolchain.ts traces it)
  '-pg',
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

/** What parsing has learnt so far: the command being built. */
interface Parsing {
  mode: GccCommand['mode'];
  output?: string;
  xlang?: Lang;
  sawM: boolean;
  dep: DepFlags;
  linkFiles: string[];
  /** What -Wl, and -Xlinker hand the linker, in order (linkerArgs). */
  ldArgs: string[];
}

/**
 * One row of the flag table: which flags it matches (exact names, or a pattern over the whole flag),
 * whether the next argv item is the flag's argument, the stage class the flag (with its argument) is
 * kept under, a reason to run the real tool instead, and anything else the flag does to the command.
 * The first matching row wins; a flag no row matches runs the real tool ('an unknown flag').
 */
interface Rule {
  when: readonly string[] | RegExp;
  takesArg?: boolean;
  cls?: FlagClass;
  real?: string;
  apply?: (c: Parsing, flag: string, arg: string | undefined) => void;
}

function setLang(c: Parsing, name: string): void {
  const l = X_LANG[name];
  if (l === undefined) real('a language (-x) not modelled', name);
  if (l === 'none') delete c.xlang;
  else c.xlang = l;
}

/**
 * The linker's own arguments, in order, however the command split them (`-Wl,--version-script,x.map`,
 * `-Wl,--version-script -Wl,x.map`, `-Xlinker --version-script -Xlinker x.map`): options that make ld write or
 * print more run the real tool; the scripts and symbol files it reads are inputs.
 */
function linkerArgs(words: readonly string[], linkFiles: string[]): void {
  for (let k = 0; k < words.length; k++) {
    const p = words[k]!;
    if (
      /^(-Map|--Map|--out-implib|--dependency-file|-M$|--print-map|--trace$|-t$|--verbose|-v$|--version$|--help$|--plugin$)/.test(
        p,
      )
    )
      real('the linker writes or prints more', p);
    const m =
      /^(?:--version-script|--dynamic-list|--script|-T|--retain-symbols-file|--just-symbols|-R)(?:=(.*))?$/.exec(p);
    if (m) {
      const f = m[1] ?? words[++k];
      if (f !== undefined) linkFiles.push(f);
    }
  }
}

const RULES: readonly Rule[] = [
  { when: QUERY, real: 'a query (--version, -print-*, -dump*, ...)' },
  // mode and output
  {
    when: ['-c'],
    apply: (c) => {
      c.mode = 'c';
    },
  },
  {
    when: ['-S'],
    apply: (c) => {
      if (c.mode !== 'c') c.mode = 'S';
    },
  },
  {
    when: ['-E'],
    apply: (c) => {
      c.mode = 'E';
    },
  },
  {
    when: ['-o'],
    takesArg: true,
    apply: (c, _f, v) => {
      c.output = v!;
    },
  },
  {
    when: /^-o./,
    apply: (c, f) => {
      c.output = f.slice(2);
    },
  },
  { when: ['-x'], takesArg: true, apply: (c, _f, v) => setLang(c, v!) },
  { when: /^-x./, apply: (c, f) => setLang(c, f.slice(2)) },
  // dependency files
  {
    when: ['-MD'],
    apply: (c) => {
      c.dep.md = true;
    },
  },
  {
    when: ['-MMD'],
    apply: (c) => {
      c.dep.mmd = true;
    },
  },
  {
    when: ['-MP'],
    apply: (c) => {
      c.dep.mp = true;
    },
  },
  {
    when: ['-M', '-MM'],
    apply: (c) => {
      c.sawM = true;
    },
  },
  {
    when: ['-MF'],
    takesArg: true,
    apply: (c, _f, v) => {
      c.dep.mf = v!;
    },
  },
  {
    when: /^-MF./,
    apply: (c, f) => {
      c.dep.mf = f.slice(3);
    },
  },
  {
    when: ['-MT', '-MQ'],
    takesArg: true,
    apply: (c, f, v) => {
      c.dep.targets.push({ text: v!, quote: f === '-MQ' });
    },
  },
  {
    when: /^-M[TQ]./,
    apply: (c, f) => {
      c.dep.targets.push({ text: f.slice(3), quote: f.startsWith('-MQ') });
    },
  },
  { when: ['-MG'], real: '-MG (missing headers as dependencies) is not modelled' },
  // preprocessor
  { when: [...WITH_ARG_P], takesArg: true, cls: 'P' },
  { when: /^-Wp,.*,(-M|-MD|-MMD)/, real: '-Wp, writes dependency files' },
  { when: /^-(I|D|U).|^-(iquote|isystem|idirafter|include|imacros).|^-Wp,/, cls: 'P' },
  { when: [...SINGLE_P], cls: 'P' },
  { when: /^(-isysroot|--sysroot|-B|-specs|--specs)/, real: 'a flag changes the toolchain' },
  // linker
  {
    when: ['-T'],
    takesArg: true,
    cls: 'L',
    apply: (c, _f, v) => {
      c.linkFiles.push(v!);
    },
  },
  {
    when: ['-Xlinker'],
    takesArg: true,
    cls: 'L',
    apply: (c, _f, v) => {
      c.ldArgs.push(v!);
    },
  },
  { when: [...WITH_ARG_L], takesArg: true, cls: 'L' },
  { when: /^-(L|l)./, cls: 'L' },
  {
    when: /^-Wl,/,
    cls: 'L',
    apply: (c, f) => {
      c.ldArgs.push(...f.slice(4).split(','));
    },
  },
  { when: [...SINGLE_L], cls: 'L' },
  { when: ['-fuse-ld=bfd'], cls: 'L' },
  { when: /^-fuse-ld=/, real: 'a flag not modelled' },
  // assembler
  { when: /^-Wa,.*,(-a|--MD|-o)/, real: 'the assembler writes more' },
  { when: /^-Wa,/, cls: 'A' },
  { when: ['-Xassembler'], takesArg: true, cls: 'A' },
  // every stage
  { when: /^-g.*split-dwarf/, real: '-gsplit-dwarf writes a .dwo file' },
  { when: /^-g/, cls: 'G' },
  { when: /^-m/, cls: 'M' },
  // compile
  { when: F_REAL, real: 'a flag not modelled' },
  { when: /^-f(debug|file)-prefix-map=/, cls: 'G' },
  { when: /^-f/, cls: 'C' },
  { when: ['--coverage'], real: '--coverage writes .gcno files' },
  { when: /^-O[0-3sgz]?$|^-Ofast$|^--?std=|^-W/, cls: 'C' },
  { when: [...SINGLE_C], cls: 'C' },
  { when: ['--param'], takesArg: true, cls: 'C' },
  { when: /^--param=/, cls: 'C' },
  { when: ['-pipe'] }, // dropped: it changes nothing the thunk could see
];

function ruleFor(flag: string): Rule | undefined {
  return RULES.find((r) => (r.when instanceof RegExp ? r.when.test(flag) : r.when.includes(flag)));
}

/** Parse argv[1..]; throws RunRealTool for queries and anything not understood. */
export function parseGcc(args: string[]): GccCommand {
  const c: Parsing = {
    mode: 'link',
    sawM: false,
    dep: { md: false, mmd: false, mp: false, targets: [], only: false },
    linkFiles: [],
    ldArgs: [],
  };
  const items: Item[] = [];
  const inputs: Input[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-' || a === '/dev/null') real('input from stdin or /dev/null');
    if (!a.startsWith('-')) {
      const lang = c.xlang ?? langOf(a);
      if (lang === 'real') real('a source language not modelled', a);
      const input: Input = { path: a, explicit: c.xlang !== undefined, ...(lang ? { lang } : {}) };
      inputs.push(input);
      items.push({ kind: 'input', input });
      continue;
    }
    const rule = ruleFor(a);
    if (rule === undefined) return real('an unknown flag', a);
    if (rule.real !== undefined) real(rule.real, a);
    let v: string | undefined;
    if (rule.takesArg) {
      if (i + 1 >= args.length) real('a flag is missing its argument', a);
      v = args[++i]!;
    }
    rule.apply?.(c, a, v);
    if (rule.cls) items.push({ kind: 'flag', flag: { cls: rule.cls, args: v === undefined ? [a] : [a, v] } });
  }
  if (c.sawM && !c.dep.md && !c.dep.mmd) c.dep.only = true;
  linkerArgs(c.ldArgs, c.linkFiles);
  return {
    mode: c.mode,
    ...(c.output !== undefined ? { output: c.output } : {}),
    items,
    inputs,
    dep: c.dep,
    linkFiles: c.linkFiles,
  };
}

/** Flags (in order) of the given classes. */
export function flagsOf(cmd: GccCommand, classes: readonly FlagClass[]): string[] {
  const out: string[] = [];
  for (const it of cmd.items) if (it.kind === 'flag' && classes.includes(it.flag.cls)) out.push(...it.flag.args);
  return out;
}

/** Environment variables that change what gcc reads: with any set, the real tool runs. */
export const GCC_ENV = [
  'CPATH',
  'C_INCLUDE_PATH',
  'CPLUS_INCLUDE_PATH',
  'OBJC_INCLUDE_PATH',
  'LIBRARY_PATH',
  'COMPILER_PATH',
  'GCC_EXEC_PREFIX',
  'DEPENDENCIES_OUTPUT',
  'SUNPRO_DEPENDENCIES',
  'GCC_COMPARE_DEBUG',
];
