/**
 * The gcc model (gcc, g++, cc, c++, c89, c99, clang, clang++): a compile becomes a chain of thunks per
 * source, preprocess (-E) -> compile (-S) -> assemble (-c), so an edit that leaves the preprocessed text
 * unchanged stops there (early cutoff); a link becomes one more thunk over the objects' thunks. Each thunk
 * declares the hermetic toolchain, runs with only a fixed environment, and starts in the build directory
 * (relative to the project root) with source paths exactly as the build gave them, so `__FILE__` and the
 * objects are those of a plain build. The placeholder is left at the output path; -MD/-MMD files are
 * written at once for make.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writePlaceholder } from '../../ir/placeholder.js';
import type { ThunkInput } from '../../ir/thunk.js';
import type { WrittenThunk } from '../sdk.js';
import { expandResponseFiles, flagsOf, parseGcc, type GccCommand, type Input, type Lang } from './gcc-args.js';
import { real, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';
import { isLinkerScript, linkerScriptRefs, sharedLibraries, type Toolchain } from './toolchain.js';
import type { DeclaredFile } from './file-declarer.js';

/** Environment variables that change what gcc reads: with any set, the real tool runs. */
const GCC_ENV = [
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

const SYSTEM_INCLUDE = ['/usr/include/', '/usr/local/include/', '/usr/lib/gcc/', '/usr/lib/llvm'];

const ANSWER_VERSION = 1;

interface RecordedAnswer {
  /** [absolute path, content name] that must still hold for the answer to be replayed. */
  checks: [string, string][];
  /** [absolute path, thunk reference]. */
  placeholders: [string, string][];
  depFiles: [string, string][];
}

function applyAnswer(a: RecordedAnswer): void {
  for (const [p, ref] of a.placeholders) writePlaceholder(p, ref);
  for (const [p, text] of a.depFiles) fs.writeFileSync(p, text);
}

/** Timeouts per stage, as gg uses them for straggler detection (ms). */
const TIMEOUT = { preprocess: 12_500, compile: 7_500, assemble: 7_500, link: 5_000 };

export function isProbe(cwd: string, cmd: GccCommand): boolean {
  if (/\/(CMakeFiles|meson-private)(\/|$)/.test(cwd)) return true;
  const names = [...cmd.inputs.map((i) => i.path), ...(cmd.output ? [cmd.output] : [])].map((p) => path.basename(p));
  return names.some((n) => n.startsWith('conftest') || n.startsWith('cmTC_'));
}

interface Chain {
  source: Input;
  /** Content names of the source and of each header (same order as `headers`). */
  sourceName: string;
  headerNames: string[];
  /** Reference of the last thunk's main output. */
  ref: string;
  headers: string[];
}

function depEscape(p: string): string {
  return p.replace(/([ #])/g, '\\$1').replace(/\$/g, '$$$$');
}

function withoutExt(p: string): string {
  const ext = path.extname(p);
  return ext ? p.slice(0, -ext.length) : p;
}

/** The .d file make asked for, written as gcc would (all headers listed; -MMD drops system ones). */
export function depFileText(
  cmd: GccCommand,
  source: string,
  objectPath: string,
  headers: string[],
  extraSystemDirs: string[],
): string {
  const targets =
    cmd.dep.targets.length > 0
      ? cmd.dep.targets.map((t) => (t.quote ? depEscape(t.text) : t.text))
      : [depEscape(objectPath)];
  const sys = [...SYSTEM_INCLUDE, ...extraSystemDirs.map((d) => (d.endsWith('/') ? d : `${d}/`))];
  const listed =
    cmd.dep.mmd && !cmd.dep.md
      ? headers.filter((h) => !(path.isAbsolute(h) && sys.some((d) => h.startsWith(d))))
      : headers;
  let text = `${targets.join(' ')}: ${[source, ...listed].map(depEscape).join(' \\\n ')}\n`;
  if (cmd.dep.mp) for (const h of listed) text += `\n${depEscape(h)}:\n`;
  return text;
}

export class GccModel {
  constructor(private readonly ctx: InferContext) {}

  async run(req: ModelRequest): Promise<ModelAnswer> {
    for (const v of GCC_ENV) if (req.env[v]) real(`$${v} is set`);
    const args = expandResponseFiles(req.argv.slice(1), req.cwd);
    const cmd = parseGcc(args);
    if (cmd.mode === 'E') real('preprocessing (-E) runs for real');
    if (cmd.dep.only) real('-M/-MM without -MD: dependency output only');
    if (cmd.inputs.length === 0) real('no input files');
    if (isProbe(req.cwd, cmd)) real('a configure or CMake probe');
    const sources = cmd.inputs.filter((i) => i.lang !== undefined);
    if (cmd.mode !== 'link') {
      if (sources.length !== cmd.inputs.length) real('linker inputs in a compile-only command');
      if (cmd.output !== undefined && sources.length > 1) real('-o with several sources');
    } else if (cmd.dep.md || cmd.dep.mmd) real('dependency files in a compile-and-link command');
    if (cmd.output !== undefined && !fs.existsSync(path.dirname(path.resolve(req.cwd, cmd.output))))
      real('the output directory does not exist');
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    const tc = await this.ctx.toolchains.compiler(req.tool);
    const upTo = cmd.mode === 'S' ? 'S' : 'o';
    if (upTo === 'S' && sources.some((s) => s.lang === 'assembler' || s.lang === 'assembler-with-cpp'))
      real('-S of assembly');
    const memoKey = cmd.mode === 'link' ? undefined : this.answerKey(req, args, tc);
    if (memoKey !== undefined && this.replayAnswer(memoKey, req)) return { kind: 'exit', status: 0 };
    const chains = await Promise.all(sources.map((s) => this.chain(req, cmd, tc, cwdRel, s, upTo)));

    if (cmd.mode === 'link') {
      const link = await this.link(req, cmd, tc, cwdRel, chains);
      const out = path.resolve(req.cwd, cmd.output ?? 'a.out');
      writePlaceholder(out, link.name, undefined);
      fs.chmodSync(out, /\.(so|a|o)(\.|$)/.test(path.basename(out)) ? 0o644 : 0o755);
      this.ctx.log(`${req.tool}: link ${cmd.output ?? 'a.out'} <- ${cmd.inputs.length} input(s)`);
      return { kind: 'exit', status: 0 };
    }
    const isystem = flagsOf(cmd, ['P']).flatMap((f, i, all) =>
      all[i - 1] === '-isystem'
        ? [path.resolve(req.cwd, f)]
        : f.startsWith('-isystem') && f.length > 8
          ? [path.resolve(req.cwd, f.slice(8))]
          : [],
    );
    const answer: RecordedAnswer = { checks: [], placeholders: [], depFiles: [] };
    for (const c of chains) {
      const outName = cmd.output ?? `${withoutExt(path.basename(c.source.path))}.${upTo === 'S' ? 's' : 'o'}`;
      answer.placeholders.push([path.resolve(req.cwd, outName), c.ref]);
      if (cmd.dep.md || cmd.dep.mmd) {
        const dfile = cmd.dep.mf ?? `${withoutExt(cmd.output ?? path.basename(c.source.path))}.d`;
        answer.depFiles.push([
          path.resolve(req.cwd, dfile),
          depFileText(cmd, c.source.path, outName, c.headers, isystem),
        ]);
      }
      answer.checks.push([path.resolve(req.cwd, c.source.path), c.sourceName]);
      c.headers.forEach((h, i) => answer.checks.push([path.resolve(req.cwd, h), c.headerNames[i]!]));
      this.ctx.log(
        `${req.tool}: ${upTo === 'S' ? 'compile' : 'object'} ${outName} <- ${c.source.path} (${c.headers.length} headers)`,
      );
    }
    applyAnswer(answer);
    if (memoKey !== undefined) this.recordAnswer(memoKey, answer);
    return { kind: 'exit', status: 0 };
  }

  /**
   * Compile answers are memoized like ccache's direct mode: the same command in the same directory with the
   * same compiler, whose source and headers still have the recorded contents, leaves the same placeholders
   * and dependency files, without building a single thunk.
   */
  private answerKey(req: ModelRequest, args: string[], tc: Toolchain): string {
    return crypto
      .createHash('sha256')
      .update(JSON.stringify([ANSWER_VERSION, req.tool, req.cwd, args, tc.driverName, tc.env]))
      .digest('hex')
      .slice(0, 40);
  }

  private answerFile(key: string): string {
    return path.join(this.ctx.store.cacheDir, 'infer', 'answers', key.slice(0, 2), key);
  }

  private replayAnswer(key: string, req: ModelRequest): boolean {
    let answer: RecordedAnswer;
    try {
      answer = JSON.parse(fs.readFileSync(this.answerFile(key), 'utf8')) as RecordedAnswer;
    } catch {
      return false;
    }
    for (const [p, name] of answer.checks) {
      try {
        if (this.ctx.declarer.nameOf(p) !== name) return false;
      } catch {
        return false;
      }
    }
    applyAnswer(answer);
    this.ctx.stats.depsCached += answer.placeholders.length;
    this.ctx.log(`${req.tool}: replayed ${answer.placeholders.map(([p]) => path.relative(req.cwd, p)).join(' ')}`);
    return true;
  }

  private recordAnswer(key: string, answer: RecordedAnswer): void {
    const file = this.answerFile(key);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify(answer));
      fs.renameSync(tmp, file);
    } catch {
      // a cache: losing an entry costs one slower infer
    }
  }

  private thunk(spec: Parameters<InferContext['builder']['thunk']>[0]): WrittenThunk {
    this.ctx.stats.thunks++;
    return this.ctx.builder.thunk(spec);
  }

  private toolInputs(tc: Toolchain, list: ThunkInput[]): { values: ThunkInput[]; executables: ThunkInput[] } {
    return {
      executables: [{ name: tc.driverName, filename: tc.driver }],
      values: list.filter((i) => i.filename !== tc.driver),
    };
  }

  /** preprocess -> compile -> assemble thunks for one source; returns the last one's reference. */
  private async chain(
    req: ModelRequest,
    cmd: GccCommand,
    tc: Toolchain,
    cwdRel: string,
    src: Input,
    upTo: 'S' | 'o',
  ): Promise<Chain> {
    const lang = src.lang as Lang;
    const declared = this.ctx.declarer.declare(src.path, req.cwd);
    if (declared.kind === 'thunk') real(`source ${src.path} is itself a placeholder`);
    const xl = src.explicit ? ['-x', lang] : [];
    const hasDebug = flagsOf(cmd, ['G']).some((f) => f.startsWith('-g') && f !== '-g0');
    const compileFlags = flagsOf(cmd, ['C', 'G', 'M']);
    if (!compileFlags.some((f) => f.startsWith('-frandom-seed'))) compileFlags.push('-frandom-seed=gg');
    const asmFlags = flagsOf(cmd, ['A', 'G', 'M']);
    const env = tc.env;
    let headers: string[] = [];
    let headerNames: string[] = [];
    let ref: string;

    const preprocessed = async (outTag: string): Promise<WrittenThunk> => {
      const ppFlags = [...flagsOf(cmd, ['P', 'C', 'G', 'M']), ...(hasDebug ? ['-fno-working-directory'] : [])];
      // Header discovery runs the very preprocess the thunk describes (same driver, flags, relative paths,
      // environment); its output seeds the thunk's memo, so the build preprocesses each source once.
      const seedTo = process.env['GG_INFER_NO_SEED'] === '1' ? undefined : this.ctx.store.tempPath('pp');
      const hostEnv: NodeJS.ProcessEnv = Object.fromEntries(
        env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      );
      hostEnv['PATH'] = this.ctx.realPath;
      let list;
      try {
        list = await this.ctx.deps.headers(tc.driver, req.cwd, [...ppFlags, ...xl], src.path, hostEnv, seedTo);
      } catch (e) {
        if (seedTo) fs.rmSync(seedTo, { force: true });
        throw e;
      }
      headers = list.headers;
      headerNames = list.names;
      if (list.cached) this.ctx.stats.depsCached++;
      else this.ctx.stats.depsDiscovered++;
      const values: ThunkInput[] = [declared.input];
      headers.forEach((h, i) => {
        const d = this.ctx.declarer.declareKnown(h, req.cwd, list.names[i]!);
        if (d.kind === 'thunk') real(`header ${h} is a placeholder`);
        values.push(d.input);
      });
      const t = this.toolInputs(tc, tc.preprocess);
      const p = this.thunk({
        function: tc.driverName,
        args: [tc.driver, ...ppFlags, ...xl, '-E', src.path, '-o', outTag],
        env,
        values: [...values, ...t.values],
        executables: t.executables,
        outputs: [outTag],
        cwd: cwdRel,
        timeoutMs: TIMEOUT.preprocess,
      });
      if (seedTo && list.preprocessed && fs.existsSync(seedTo)) {
        const value = this.ctx.store.adoptFile(seedTo).name;
        this.ctx.store.putReductionSync(`${p.name}#${outTag}`, value);
        this.ctx.store.putReductionSync(p.name, value);
        this.ctx.stats.seeded++;
      } else if (seedTo) fs.rmSync(seedTo, { force: true });
      return p;
    };
    const compile = (input: { thunk?: string; value?: DeclaredFile }, inTag: string, cwd: string): WrittenThunk => {
      const t = this.toolInputs(tc, tc.compile);
      return this.thunk({
        function: tc.driverName,
        args: [
          tc.driver,
          ...compileFlags,
          ...(input.value ? xl : []),
          '-S',
          input.value ? input.value.argPath : inTag,
          '-o',
          'gg.s',
        ],
        env,
        values: [...t.values, ...(input.value ? [input.value.input] : [])],
        thunks: input.thunk ? [{ name: input.thunk, filename: inTag }] : [],
        executables: t.executables,
        outputs: ['gg.s'],
        ...(cwd ? { cwd } : {}),
        timeoutMs: TIMEOUT.compile,
      });
    };
    const assemble = (input: { thunk?: string; value?: DeclaredFile }, cwd: string): WrittenThunk => {
      const t = this.toolInputs(tc, tc.assemble);
      return this.thunk({
        function: tc.driverName,
        args: [
          tc.driver,
          ...asmFlags,
          ...(input.value ? xl : []),
          '-c',
          input.value ? input.value.argPath : 'gg.s',
          '-o',
          'gg.o',
        ],
        env,
        values: [...t.values, ...(input.value ? [input.value.input] : [])],
        thunks: input.thunk ? [{ name: input.thunk, filename: 'gg.s' }] : [],
        executables: t.executables,
        outputs: ['gg.o'],
        ...(cwd ? { cwd } : {}),
        timeoutMs: TIMEOUT.assemble,
      });
    };

    switch (lang) {
      case 'c':
      case 'c++': {
        const tag = lang === 'c' ? 'gg.i' : 'gg.ii';
        const p = await preprocessed(tag);
        const c = compile({ thunk: p.name }, tag, '');
        ref = upTo === 'S' ? c.name : assemble({ thunk: c.name }, '').name;
        break;
      }
      case 'cpp-output':
      case 'c++-cpp-output': {
        const c = compile({ value: declared }, '', cwdRel);
        ref = upTo === 'S' ? c.name : assemble({ thunk: c.name }, '').name;
        break;
      }
      case 'assembler-with-cpp': {
        const p = await preprocessed('gg.s');
        ref = assemble({ thunk: p.name }, '').name;
        break;
      }
      case 'assembler':
        ref = assemble({ value: declared }, cwdRel).name;
        break;
    }
    return { source: src, sourceName: declared.input.name, ref, headers, headerNames };
  }

  private readonly libCache = new Map<string, ThunkInput[]>();

  /** A system library (absolute path) and everything it brings: linker-script members, DT_NEEDED closure. */
  private async systemLibrary(file: string, searchDirs: string[], seen = new Set<string>()): Promise<ThunkInput[]> {
    const cached = this.libCache.get(file);
    if (cached) return cached;
    if (seen.has(file)) return [];
    seen.add(file);
    const out: ThunkInput[] = [this.ctx.declarer.declareAbsolute(file)];
    if (isLinkerScript(file)) {
      const refs = linkerScriptRefs(fs.readFileSync(file, 'latin1'));
      for (const p of refs.paths) if (fs.existsSync(p)) out.push(...(await this.systemLibrary(p, searchDirs, seen)));
      for (const n of refs.names) {
        const found = [path.dirname(file), ...searchDirs].map((d) => path.join(d, n)).find((p) => fs.existsSync(p));
        if (found) out.push(...(await this.systemLibrary(found, searchDirs, seen)));
      }
      for (const l of refs.libs)
        for (const f of this.findLib(l, searchDirs)) out.push(...(await this.systemLibrary(f, searchDirs, seen)));
    } else if (/\.so(\.|$)/.test(path.basename(file))) {
      for (const lib of await sharedLibraries([file], { ...process.env, PATH: this.ctx.realPath }))
        out.push(this.ctx.declarer.declareAbsolute(lib));
    }
    this.libCache.set(file, out);
    return out;
  }

  /** What `-lname` finds in the first directory that has it (both .so and .a are declared). */
  private findLib(name: string, dirs: string[]): string[] {
    const candidates = name.startsWith(':') ? [name.slice(1)] : [`lib${name}.so`, `lib${name}.a`];
    for (const d of dirs) {
      const found = candidates.map((c) => path.join(d, c)).filter((p) => fs.existsSync(p));
      if (found.length > 0) return found;
    }
    return [];
  }

  private async link(
    req: ModelRequest,
    cmd: GccCommand,
    tc: Toolchain,
    cwdRel: string,
    chains: Chain[],
  ): Promise<WrittenThunk> {
    const linkArgs = flagsOf(cmd, ['C', 'G', 'M', 'L']);
    if (linkArgs.some((a) => /^-f(sanitize|profile-arcs|openmp)|^--coverage/.test(a)))
      real('a link with runtime libraries not in the toolchain');
    const args = [tc.driver];
    const values: ThunkInput[] = [];
    const thunks: ThunkInput[] = [];
    const add = (d: DeclaredFile): void => {
      (d.kind === 'thunk' ? thunks : values).push(d.input);
    };
    const objDir = cwdRel;
    const libDirs: string[] = [];
    const relativeLibDirs = new Set<string>();
    const pendingLibs: string[] = [];
    let k = 0;
    for (const it of cmd.items) {
      if (it.kind === 'input') {
        if (it.input.lang !== undefined) {
          const chain = chains[k]!;
          const name = `gg-obj-${k++}.o`;
          thunks.push({ name: chain.ref, filename: objDir ? path.join(objDir, name) : name });
          args.push(name);
        } else {
          const d = this.ctx.declarer.declare(it.input.path, req.cwd, { relocatable: true });
          add(d);
          args.push(d.argPath);
        }
        continue;
      }
      const f = it.flag;
      if (!['C', 'G', 'M', 'L'].includes(f.cls)) continue;
      args.push(...f.args);
      if (f.cls !== 'L') continue;
      const a = f.args.join('');
      if (a.startsWith('-L')) {
        libDirs.push(path.resolve(req.cwd, a.slice(2)));
        if (!path.isAbsolute(a.slice(2))) relativeLibDirs.add(path.resolve(req.cwd, a.slice(2)));
      } else if (a.startsWith('-l')) pendingLibs.push(a.slice(2));
    }
    args.push('-o', 'gg.out');
    const searchDirs = [...libDirs, ...tc.libDirs];
    const extra: Promise<ThunkInput[]>[] = [];
    for (const lib of pendingLibs) {
      const found = this.findLib(lib, searchDirs);
      if (found.length === 0) real(`-l${lib} not found`);
      for (const f of found) {
        if (this.ctx.declarer.underRoot(f) !== undefined) {
          // a project library: declared as the build names it (relative -L dir) so ld finds it there
          add(this.ctx.declarer.declare(relativeLibDirs.has(path.dirname(f)) ? path.relative(req.cwd, f) : f, req.cwd));
        } else extra.push(this.systemLibrary(f, tc.libDirs));
      }
    }
    for (const lf of cmd.linkFiles) {
      if (fs.existsSync(path.resolve(req.cwd, lf))) add(this.ctx.declarer.declare(lf, req.cwd));
    }
    for (const list of await Promise.all(extra)) values.push(...list);
    const t = this.toolInputs(tc, tc.link);
    return this.thunk({
      function: tc.driverName,
      args,
      env: tc.env,
      values: [...values, ...t.values],
      thunks,
      executables: t.executables,
      outputs: ['gg.out'],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: TIMEOUT.link,
    });
  }
}
