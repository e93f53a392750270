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
import { placeOutput } from '../../force/targets.js';
import { writePlaceholder } from '../../ir/placeholder.js';
import { isThunkName } from '../../ir/name.js';
import type { Thunk, ThunkInput } from '../../ir/thunk.js';
import type { LocalStore } from '../../store/local-store.js';
import type { WrittenThunk } from '../sdk.js';
import { writeFastAnswer } from './fast-answer.js';
import { expandResponseFiles, flagsOf, GCC_ENV, parseGcc, type GccCommand, type Input, type Lang } from './gcc-args.js';
import { dependCompile, dependModeFits, type DependCompile } from './gcc-depend.js';
import type { HeaderList } from './header-deps.js';
import { knownResult } from './known-outputs.js';
import { real, RunRealTool, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';
import { isLinkerScript, linkerScriptRefs, linkExtrasOf, TRACED_SANITIZERS, type Toolchain } from './toolchain.js';
import type { DeclaredFile } from './file-declarer.js';

const SYSTEM_INCLUDE = ['/usr/include/', '/usr/local/include/', '/usr/lib/gcc/', '/usr/lib/llvm'];

/** Version of recorded answers (and of fast answers, kept under a directory named after it). */
export const ANSWER_VERSION = 3;
/** Answers kept per command (see recordAnswer). */
const ANSWERS_PER_KEY = 4;
/** Sanitizers whose runtimes the toolchain declares (toolchain.ts traces a link with them). */
const DECLARED_SANITIZERS = new Set(TRACED_SANITIZERS);

/** An output tag for a file's name: a tag holds no '#' or '=' (ir/name.ts), which a name may (`-o x=y.o`). */
function tagOf(name: string): string {
  const t = name.replace(/[#=]/g, '_');
  return t === '.' || t === '..' ? '_' : t;
}

/** A link flag that adds a runtime library the toolchain does not declare. */
function undeclaredRuntime(flag: string): boolean {
  if (flag.startsWith('-fsanitize='))
    return flag
      .slice(11)
      .split(',')
      .some((k) => !DECLARED_SANITIZERS.has(k));
  return /^-fprofile-arcs|^--coverage/.test(flag);
}

/** Largest memoized link result put in place (or copied, for a program) at infer time; larger ones stay placeholders. */
const PLACE_MAX_BYTES = 2 * 1024 * 1024;

function smallBlob(store: LocalStore, name: string): boolean {
  return (fs.statSync(store.blobPath(name), { throwIfNoEntry: false })?.size ?? Infinity) <= PLACE_MAX_BYTES;
}

interface RecordedAnswer {
  /** [absolute path, content name] that must still hold for the answer to be replayed. */
  checks: [string, string][];
  /** [absolute path, thunk reference]. */
  placeholders: [string, string][];
  depFiles: [string, string][];
}

/**
 * One source's compile within a compile-and-link command (`cc -shared a.c b.c -o lib.so`), recorded as a
 * command's answer is: its thunk and the files it was made from. Such a command has no answer of its own to
 * replay (its objects are the link's, not files), and each rebuild compiled every source again at infer time.
 */
interface RecordedChain {
  checks: [string, string][];
  chain: Omit<Chain, 'source' | 'log'>;
}

function applyAnswer(a: RecordedAnswer): void {
  for (const [p, ref] of a.placeholders) writePlaceholder(p, ref);
  for (const [p, text] of a.depFiles) fs.writeFileSync(p, text);
}

/**
 * gg's per-stage timeouts (ms), written into each thunk as the straggler hint gg gives them: past it, a
 * scheduler may start a duplicate run. Never a kill limit (only `gg force --timeout` kills).
 */
const TIMEOUT = { compile: 7_500, link: 5_000 };

/** How many just-made thunks are kept at hand for the fast answers written right after (a few per command). */
const RECENT_THUNKS = 64;

/** Flags of the compile command: everything but linking, dependency files and dropped flags. */
const COMPILE_CLASSES = ['P', 'C', 'G', 'M', 'A'] as const;
/** Preprocessor modes -fdirectives-only cannot be combined with (discovery then runs a plain -E). */
const DIRECTIVES_ONLY_CLASH = new Set(['-C', '-CC', '-traditional-cpp', '-traditional', '-P', '-Wunused-macros']);

const UTF8_CTYPE = '/usr/lib/locale/C.utf8/LC_CTYPE';

/**
 * The toolchain's fixed environment, in the build's message style: gcc quotes with ‘’ when its character
 * set is UTF-8 and with '' otherwise, so a build under a UTF-8 locale runs with LC_CTYPE=C.UTF-8 (and that
 * locale's one file declared). Translated messages (another language) are not reproduced.
 */
export function thunkEnv(tc: Toolchain, req: ModelRequest): string[] {
  const ctype = req.env['LC_ALL'] || req.env['LC_CTYPE'] || req.env['LANG'] || '';
  if (!/utf-?8/i.test(ctype) || !fs.existsSync(UTF8_CTYPE)) return tc.env;
  return [...tc.env.filter((e) => !e.startsWith('LC_ALL=')), 'LC_CTYPE=C.UTF-8'];
}

/** The `-x` flags a source's thunk passes (the language the build named for it). */
function xlOf(src: Input): string[] {
  return src.explicit ? ['-x', src.lang as Lang] : [];
}

function uniqueInputs(list: ThunkInput[]): ThunkInput[] {
  const seen = new Set<string>();
  return list.filter((i) => {
    const k = `${i.filename ?? ''}\0${i.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** sha256 of a file's content, streamed (a C++ source's preprocessed text can be tens of MB). */
function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('error', reject)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')));
  });
}

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
  /** What the compile printed when it ran at infer time (gcc-depend.ts). */
  log?: string;
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
    for (const v of GCC_ENV) if (req.env[v]) real("an environment variable changes gcc's search", `$${v} is set`);
    const args = expandResponseFiles(req.argv.slice(1), req.cwd);
    const cmd = parseGcc(args);
    if (cmd.mode === 'E') real('preprocessing (-E) runs for real');
    if (cmd.dep.only) real('-M/-MM without -MD: dependency output only');
    if (cmd.inputs.length === 0) real('no input files');
    if (isProbe(req.cwd, cmd)) real('a configure, CMake or Meson probe');
    const sources = cmd.inputs.filter((i) => i.lang !== undefined);
    if (cmd.mode !== 'link') {
      if (sources.length !== cmd.inputs.length) real('linker inputs in a compile-only command');
      if (cmd.output !== undefined && sources.length > 1) real('-o with several sources');
    } else if ((cmd.dep.md || cmd.dep.mmd) && cmd.output === undefined && cmd.dep.mf === undefined)
      real('dependency files in a compile-and-link command without -o');
    if (cmd.output !== undefined && !fs.existsSync(path.dirname(path.resolve(req.cwd, cmd.output))))
      real('the output directory does not exist');
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    // A cold build asks the driver what each source needs while its toolchain is loaded (toolchain.ts).
    if (this.ctx.cold)
      for (const s of sources) void this.ctx.toolchains.askPrograms(req.tool, path.extname(s.path), xlOf(s));
    const tc = await this.ctx.toolchains.compiler(req.tool);
    const upTo = cmd.mode === 'S' ? 'S' : 'o';
    if (upTo === 'S' && sources.some((s) => s.lang === 'assembler' || s.lang === 'assembler-with-cpp'))
      real('-S of assembly');
    const memoKey = cmd.mode === 'link' ? undefined : this.answerKey(req, args, tc);
    if (memoKey !== undefined && this.replayAnswer(memoKey, req)) return { kind: 'exit', status: 0 };
    // The object each source becomes: the build's -o, or gcc's default name (in link mode, an object of
    // the link only, named after the source).
    const outNames = sources.map((s) =>
      cmd.mode !== 'link' && cmd.output !== undefined
        ? cmd.output
        : `${withoutExt(path.basename(s.path))}.${upTo === 'S' ? 's' : 'o'}`,
    );
    // A compile's output tag is where a compile at infer time writes its object, through a mount point in the
    // start directory (gcc-depend.ts). In link mode gcc keeps its objects in /tmp, and `x.o` may be the
    // build's own file, written by a command running beside this one (lz4 compiles its sources for a static
    // and a shared library at once): a placeholder renamed over the mount point made the compile fail. So a
    // link's objects get names of its own, after the link's output (no two commands make one output at once).
    const linkOut = path.basename(cmd.output ?? 'a.out').slice(0, 200);
    const outTags = outNames.map((n, i) => tagOf(cmd.mode === 'link' ? `${linkOut}.gg-${i}.o` : path.basename(n)));
    const chains = await Promise.all(sources.map((s, i) => this.chain(req, cmd, tc, cwdRel, s, upTo, outTags[i]!)));

    const isystem = flagsOf(cmd, ['P']).flatMap((f, i, all) =>
      all[i - 1] === '-isystem'
        ? [path.resolve(req.cwd, f)]
        : f.startsWith('-isystem') && f.length > 8
          ? [path.resolve(req.cwd, f.slice(8))]
          : [],
    );
    const answer: RecordedAnswer = { checks: [], placeholders: [], depFiles: [] };
    chains.forEach((c, i) => {
      const outName = outNames[i]!;
      if (cmd.mode !== 'link') answer.placeholders.push([path.resolve(req.cwd, outName), c.ref]);
      // (gcc writes none for assembly it does not preprocess: a .s source)
      if ((cmd.dep.md || cmd.dep.mmd) && c.source.lang !== 'assembler') {
        // as gcc names it: -MF, else after -o (one file for a whole compile-and-link: the last source's
        // list wins, as with gcc), else after the source
        const dfile = cmd.dep.mf ?? `${withoutExt(cmd.output ?? path.basename(c.source.path))}.d`;
        answer.depFiles.push([
          path.resolve(req.cwd, dfile),
          depFileText(cmd, c.source.path, cmd.mode === 'link' ? cmd.output! : outName, c.headers, isystem),
        ]);
      }
      answer.checks.push(...this.checksOf(req.cwd, c.source.path, c));
      this.ctx.log(
        `${req.tool}: ${upTo === 'S' ? 'compile' : 'object'} ${outName} <- ${c.source.path} (${c.headers.length} headers)`,
      );
    });
    if (cmd.mode === 'link') {
      const link = await this.link(req, cmd, tc, cwdRel, chains);
      const out = path.resolve(req.cwd, cmd.output ?? 'a.out');
      writePlaceholder(out, link.name, undefined);
      const program = !/\.(so|a|o)(\.|$)/.test(path.basename(out));
      fs.chmodSync(out, program ? 0o755 : 0o644);
      // A link whose result is memoized already (a rebuild after make clean) leaves the program itself, so a
      // build that runs what it links (generators) does not pay a gg-force-and-run start for each.
      // Only small results (generator-sized): copying a large program nobody runs would cost more than it saves.
      // Not when runs are thunks: the placeholder lets the server answer the run from the memo.
      const keep = program && this.ctx.runsAsThunks === true;
      const memo = this.ctx.store.getReductionSync(link.name);
      const known =
        memo !== undefined && this.ctx.store.hasSync(memo) && smallBlob(this.ctx.store, memo) ? memo : undefined;
      if (!keep && known !== undefined) {
        await placeOutput(this.ctx.store, out, known);
        this.ctx.stats.placed++;
      } else {
        this.ctx.outputs.add(out);
        // A program that stays a placeholder, with a known result: copied now, renamed into place when the
        // build ends (known-outputs.ts). The memo's own entry for the link is one lookup; finding the result
        // through the rewritten thunk (its objects' results, a library placed since) costs a thunk's decoding
        // and naming, done only under `gg infer --force`, which needs to know whether the result is at hand:
        // a link whose result is not is forced while the build goes on.
        if (keep && known !== undefined) this.ctx.staging?.stage(out, known);
        else if (this.ctx.linked !== undefined) {
          const staging = keep ? this.ctx.staging : undefined;
          const value = staging === undefined ? undefined : knownResult(this.ctx.store, link.name);
          if (staging !== undefined && value !== undefined && smallBlob(this.ctx.store, value))
            staging.stage(out, value);
          else this.ctx.linked(link.name);
        }
      }
      for (const [p, text] of answer.depFiles) fs.writeFileSync(p, text);
      this.ctx.log(`${req.tool}: link ${cmd.output ?? 'a.out'} <- ${cmd.inputs.length} input(s)`);
      return { kind: 'exit', status: 0 };
    }
    applyAnswer(answer);
    for (const [, ref] of answer.placeholders) this.ctx.compiled?.(ref);
    this.later(() => {
      if (memoKey !== undefined) this.recordAnswer(memoKey, answer);
      this.writeFast(req, answer);
    });
    // warnings of compiles that ran here go where the build shows the compiler's own
    const stderr = chains.map((c) => c.log ?? '').join('');
    return { kind: 'exit', status: 0, ...(stderr ? { stderr } : {}) };
  }

  /**
   * Compile answers are memoized like ccache's direct mode: the same command in the same directory with the
   * same compiler, whose source and headers still have the recorded contents, leaves the same placeholders
   * and dependency files, without building a single thunk.
   */
  private answerKey(req: ModelRequest, args: string[], tc: Toolchain): string {
    return crypto
      .createHash('sha256')
      .update(JSON.stringify([ANSWER_VERSION, req.tool, req.cwd, args, tc.driverName, thunkEnv(tc, req)]))
      .digest('hex')
      .slice(0, 40);
  }

  private answerFile(key: string): string {
    return path.join(this.ctx.store.cacheDir, 'infer', 'answers', key.slice(0, 2), key);
  }

  /** The answers recorded for a key, newest first (older files hold one answer, not a list). */
  private recordedAnswers<T extends { checks: [string, string][] } = RecordedAnswer>(key: string): T[] {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.answerFile(key), 'utf8')) as T | T[];
      // a damaged cache file is a miss, never a crash of the model
      return (Array.isArray(parsed) ? parsed : [parsed]).filter(
        (a) => typeof a === 'object' && a !== null && Array.isArray(a.checks),
      );
    } catch {
      return [];
    }
  }

  /** Whether every file still holds the content it was recorded with. */
  private holds(checks: [string, string][]): boolean {
    return checks.every((check) => {
      if (!Array.isArray(check)) return false;
      const [p, name] = check;
      try {
        return this.ctx.declarer.nameOf(p) === name;
      } catch {
        return false;
      }
    });
  }

  private replayAnswer(key: string, req: ModelRequest): boolean {
    const answer = this.recordedAnswers(key).find((a) => this.holds(a.checks));
    if (answer === undefined) return false;
    applyAnswer(answer);
    for (const [, ref] of answer.placeholders) this.ctx.compiled?.(ref);
    this.later(() => this.writeFast(req, answer));
    this.ctx.stats.depsCached += answer.placeholders.length;
    this.ctx.log(`${req.tool}: replayed ${answer.placeholders.map(([p]) => path.relative(req.cwd, p)).join(' ')}`);
    return true;
  }

  private later(task: () => void): void {
    if (this.ctx.afterAnswer) this.ctx.afterAnswer(task);
    else task();
  }

  /**
   * The answer as a fast answer the client replays by itself next time (fast-answer.ts), when the request
   * can be told apart by its key alone: not through a response file, whose content the key does not hold.
   */
  private writeFast(req: ModelRequest, answer: RecordedAnswer): void {
    if (this.ctx.fastDir === undefined || req.fastKey === undefined) return;
    if (req.argv.slice(1).some((a) => a.startsWith('@'))) return;
    writeFastAnswer(this.ctx.store, this.ctx.declarer, this.ctx.fastDir, req.fastKey, answer, (n) =>
      this.recent.get(n),
    );
  }

  /**
   * Keeps the last few answers of a key, as ccache's manifests do: one build may run the same command on
   * different header contents (a compile before and after a generator rewrites a header it includes), and
   * each must replay on a rebuild.
   */
  private recordAnswer<T extends { checks: [string, string][] } = RecordedAnswer>(key: string, answer: T): void {
    const file = this.answerFile(key);
    try {
      const same = JSON.stringify(answer.checks);
      const kept = this.recordedAnswers<T>(key).filter((a) => JSON.stringify(a.checks) !== same);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify([answer, ...kept].slice(0, ANSWERS_PER_KEY)));
      fs.renameSync(tmp, file);
    } catch {
      // a cache: losing an entry costs one slower infer
    }
  }

  private thunk(spec: Parameters<InferContext['builder']['thunk']>[0]): WrittenThunk {
    this.ctx.stats.thunks++;
    const w = this.ctx.builder.thunk(spec);
    this.recent.set(w.name, w.thunk);
    if (this.recent.size > RECENT_THUNKS) this.recent.delete(this.recent.keys().next().value!);
    return w;
  }

  private toolInputs(tc: Toolchain, list: ThunkInput[]): { values: ThunkInput[]; executables: ThunkInput[] } {
    return {
      executables: [{ name: tc.driverName, filename: tc.driver }],
      values: list.filter((i) => i.filename !== tc.driver),
    };
  }

  /**
   * One thunk per source: the build's own compile command (its flags in its order, `-o` a file named like
   * the build's output) run in the build directory on the original source, with the source and every
   * header it reads declared. The compiler sees exactly what a plain build's compiler sees, so warnings,
   * errors and objects are a plain build's (a split preprocess loses comments, macro locations and
   * -Wmisleading-indentation; see docs/INFER.md).
   */
  private async chain(
    req: ModelRequest,
    cmd: GccCommand,
    tc: Toolchain,
    cwdRel: string,
    src: Input,
    upTo: 'S' | 'o',
    outTag: string,
  ): Promise<Chain> {
    const lang = src.lang as Lang;
    const declared = this.ctx.declarer.declare(src.path, req.cwd);
    if (declared.kind === 'thunk') real('a source is a placeholder', `source ${src.path} is itself a placeholder`);
    const xl = xlOf(src);
    const flags = flagsOf(cmd, COMPILE_CLASSES);
    const args = [tc.driver, ...flags, ...xl, upTo === 'S' ? '-S' : '-c', src.path, '-o', outTag];
    const env = thunkEnv(tc, req);
    // (a compile-only command is replayed whole, before it gets here)
    const chainKey = cmd.mode === 'link' ? this.answerKey(req, ['\0chain', ...args], tc) : undefined;
    const replayed = chainKey === undefined ? undefined : this.replayChain(chainKey, src, outTag);
    if (replayed) return replayed;
    const values: ThunkInput[] = [declared.input];
    if (env !== tc.env) values.push(this.ctx.declarer.declareAbsolute(UTF8_CTYPE));
    let headers: string[] = [];
    let headerNames: string[] = [];
    let cutoffKey: string | undefined;
    let ran: DependCompile | undefined;
    const compile = await this.ctx.toolchains.compileInputs(tc, path.extname(src.path), xl);
    const t = this.toolInputs(tc, uniqueInputs([...compile, ...(upTo === 'o' ? tc.assemble : [])]));
    if (lang === 'c' || lang === 'c++' || lang === 'assembler-with-cpp') {
      // Header discovery preprocesses the source as the compile will (same driver, flags, relative paths,
      // environment). For C and C++ it keeps directives only (icecc's -fdirectives-only: comments, spacing
      // and macro uses stay as written), and that text is the early-cutoff key: an edit that leaves it
      // unchanged (a disabled #if branch, an unused header's guarded part) reuses the compile's result.
      const directivesOnly = lang !== 'assembler-with-cpp' && !flags.some((f) => DIRECTIVES_ONLY_CLASH.has(f));
      const ppFlags = [...flagsOf(cmd, ['P', 'C', 'G', 'M']), ...(directivesOnly ? ['-fdirectives-only'] : [])];
      const keyTo = this.ctx.store.tempPath('pp');
      const hostEnv: NodeJS.ProcessEnv = Object.fromEntries(
        env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      );
      hostEnv['PATH'] = this.ctx.realPath;
      try {
        ran =
          lang !== 'assembler-with-cpp' && dependModeFits(flags)
            ? await this.dependRun(
                req,
                tc,
                cwdRel,
                src,
                args,
                env,
                [...values, ...t.values, ...t.executables],
                outTag,
                [...ppFlags.filter((f) => f !== '-fdirectives-only'), ...xl],
                hostEnv,
              )
            : undefined;
        const discover = async (): Promise<HeaderList> => {
          if (ran) return { headers: ran.headers, names: ran.names, cached: false };
          try {
            return await this.ctx.deps.headers(tc.driver, req.cwd, [...ppFlags, ...xl], src.path, hostEnv, keyTo);
          } catch (e) {
            // a flag gcc refuses with -fdirectives-only: plain discovery (-M), and no cutoff key
            if (!directivesOnly || !(e instanceof RunRealTool) || !/directives-only/.test(e.detail ?? '')) throw e;
            ppFlags.pop();
            return this.ctx.deps.headers(tc.driver, req.cwd, [...ppFlags, ...xl], src.path, hostEnv);
          }
        };
        const list = await discover();
        headers = list.headers;
        headerNames = list.names;
        if (list.cached) this.ctx.stats.depsCached++;
        else this.ctx.stats.depsDiscovered++;
        if (list.preprocessed) cutoffKey = await hashFile(keyTo);
      } finally {
        fs.rmSync(keyTo, { force: true });
      }
      headers.forEach((h, i) => {
        const d = this.ctx.declarer.declareKnown(h, req.cwd, headerNames[i]!);
        if (d.kind === 'thunk') real('a header is a placeholder', `header ${h} is a placeholder`);
        values.push(d.input);
      });
      const listed = new Set(headers.map((h) => path.resolve(req.cwd, h)));
      for (const abs of await this.ctx.deps.probedFiles(
        tc.driver,
        req.cwd,
        [...ppFlags, ...xl],
        lang,
        [src.path, ...headers],
        hostEnv,
        [declared.input.name, ...headerNames],
      )) {
        if (listed.has(abs)) continue;
        if (this.ctx.declarer.underRoot(abs) === undefined) values.push(this.ctx.declarer.declareAbsolute(abs));
        else {
          const d = this.ctx.declarer.declare(path.relative(req.cwd, abs), req.cwd);
          if (d.kind === 'thunk') real('a header is a placeholder', `probed header ${abs} is a placeholder`);
          values.push(d.input);
        }
      }
    }
    const thunk = this.thunk({
      function: tc.driverName,
      args,
      env,
      values: [...values, ...t.values],
      executables: t.executables,
      outputs: [outTag],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: TIMEOUT.compile,
    });
    if (ran?.sound) {
      // the depend-mode run was this thunk's run (gcc-depend.ts): its object is the result
      this.ctx.store.putReductionSync(`${thunk.name}#${outTag}`, ran.object);
      this.ctx.store.putReductionSync(thunk.name, ran.object);
      this.ctx.stats.compiledAtInfer++;
    } else if (cutoffKey !== undefined)
      this.cutoff(
        crypto
          .createHash('sha256')
          .update(JSON.stringify([cutoffKey, args, env, cwdRel, tc.driverName]))
          .digest('hex'),
        thunk.name,
        outTag,
      );
    const chain = { sourceName: declared.input.name, ref: thunk.name, headers, headerNames };
    if (chainKey !== undefined) {
      const checks = this.checksOf(req.cwd, src.path, chain);
      this.later(() => this.recordAnswer<RecordedChain>(chainKey, { checks, chain }));
    }
    return { source: src, ...chain, ...(ran?.sound && ran.log ? { log: ran.log } : {}) };
  }

  /** A recorded compile of a compile-and-link command whose files still hold what it was made from. */
  private replayChain(key: string, src: Input, outTag: string): Chain | undefined {
    const strings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
    const hit = this.recordedAnswers<RecordedChain>(key).find(
      (a) =>
        typeof a.chain?.ref === 'string' &&
        isThunkName(a.chain.ref) &&
        typeof a.chain.sourceName === 'string' &&
        strings(a.chain.headers) &&
        strings(a.chain.headerNames) &&
        a.chain.headers.length === a.chain.headerNames.length &&
        this.holds(a.checks) &&
        this.ctx.store.hasSync(a.chain.ref),
    );
    if (hit === undefined) return undefined;
    this.ctx.stats.depsCached++;
    this.ctx.log(`${src.path}: replayed the compile of ${outTag}`);
    return { source: src, ...hit.chain };
  }

  /** [absolute path, content name] of a compile's source and headers. */
  private checksOf(cwd: string, source: string, c: Omit<Chain, 'source' | 'log'>): [string, string][] {
    return [
      [path.resolve(cwd, source), c.sourceName],
      ...c.headers.map((h, k): [string, string] => [path.resolve(cwd, h), c.headerNames[k]!]),
    ];
  }

  /**
   * The compile itself, run at infer time in a jail that shows the project and the include directories
   * (gcc-depend.ts), when `gg infer --force` runs thunks in bubblewrap: its `-MD` list replaces the discovery
   * preprocess. Undefined when that is not possible here or the run failed (discovery then runs as before).
   */
  private async dependRun(
    req: ModelRequest,
    tc: Toolchain,
    cwdRel: string,
    src: Input,
    args: string[],
    env: string[],
    inputs: ThunkInput[],
    outTag: string,
    ppArgs: string[],
    /** The environment discovery would run in (the thunk's, with the build's PATH). */
    hostEnv: NodeJS.ProcessEnv,
  ): Promise<DependCompile | undefined> {
    const sandbox = await this.ctx.dependSandbox?.();
    if (sandbox === undefined) {
      if (this.ctx.dependSandbox) this.ctx.log('no bubblewrap sandbox on the local store: no compiles at infer time');
      return undefined;
    }
    const dirs = await this.ctx.deps.searchDirs(tc.driver, req.cwd, ppArgs, src.lang as Lang, hostEnv);
    const outside = [...dirs.quote, ...dirs.angle, ...(path.isAbsolute(src.path) ? [path.dirname(src.path)] : [])]
      .map((d) => path.resolve(req.cwd, d))
      .filter((d) => this.ctx.declarer.underRoot(d) === undefined && d !== this.ctx.root);
    const readOnly = [this.ctx.root, ...outside].filter(
      (d) => !/^\/(proc|dev|gg)(\/|$)/.test(d) && fs.statSync(d, { throwIfNoEntry: false })?.isDirectory() === true,
    );
    try {
      return await dependCompile({
        sandbox,
        store: this.ctx.store,
        root: this.ctx.root,
        cwdRel,
        args,
        env,
        functionName: tc.driverName,
        // the toolchain (and locale file): what the thunk declares outside the project
        toolchain: inputs.filter(
          (i) =>
            i.filename === undefined ||
            (path.isAbsolute(i.filename) && this.ctx.declarer.underRoot(i.filename) === undefined),
        ),
        outTag,
        source: src.path,
        readOnly,
        nameOf: (abs) => this.ctx.declarer.nameOf(abs),
        readsUnlisted: (abs) => this.ctx.deps.readsUnlisted(abs),
        outsideFit: this.outsideFit,
        isOutside: (abs) => this.ctx.declarer.underRoot(abs) === undefined,
        log: (msg) => this.ctx.log(msg),
      });
    } catch (e) {
      this.ctx.log(`depend-mode compile of ${src.path} failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  /**
   * Early cutoff at infer time: the first compile thunk seen with this key (same command, same
   * directives-only text) is remembered; a later, different thunk with the same key (its files changed,
   * but not in any way the compiler can see) is given that thunk's memoized result, when it has one.
   */
  private cutoff(key: string, name: string, tag: string): void {
    const file = path.join(this.ctx.store.cacheDir, 'infer', 'cutoff', key.slice(0, 2), key.slice(2, 42));
    let known: string | undefined;
    try {
      known = fs.readFileSync(file, 'utf8');
    } catch {
      // first time this text is compiled this way
    }
    if (known === name) return;
    const result = known !== undefined && isThunkName(known) ? this.ctx.store.getReductionSync(known) : undefined;
    if (result !== undefined) {
      const tagged = this.ctx.store.getReductionSync(`${known}#${tag}`) ?? result;
      this.ctx.store.putReductionSync(`${name}#${tag}`, tagged);
      this.ctx.store.putReductionSync(name, result);
      this.ctx.stats.cutoff++;
      return;
    }
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, name);
      fs.renameSync(tmp, file);
    } catch {
      // a cache: losing an entry loses one cutoff
    }
  }

  private readonly libCache = new Map<string, ThunkInput[]>();
  /** The thunks made last, oldest first: a fast answer written just after its compile reads them back. */
  private readonly recent = new Map<string, Thunk>();
  /** Files outside the root a compile at infer time may read and still be recorded (gcc-depend.ts). */
  private readonly outsideFit = new Set<string>();

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
      const libs = await this.ctx.toolchains.sharedLibraries([file]);
      for (const lib of libs) out.push(this.ctx.declarer.declareAbsolute(lib));
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
    if (linkArgs.some(undeclaredRuntime)) real('a link with runtime libraries not in the toolchain');
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
    const linking = await tc.linking();
    const searchDirs = [...libDirs, ...linking.libDirs];
    const extra: Promise<ThunkInput[]>[] = [];
    for (const lib of pendingLibs) {
      const found = this.findLib(lib, searchDirs);
      if (found.length === 0) real('a -l library not found', `-l${lib}`);
      for (const f of found) {
        if (this.ctx.declarer.underRoot(f) !== undefined) {
          // a project library: declared as the build names it (relative -L dir) so ld finds it there
          add(this.ctx.declarer.declare(relativeLibDirs.has(path.dirname(f)) ? path.relative(req.cwd, f) : f, req.cwd));
        } else extra.push(this.systemLibrary(f, linking.libDirs));
      }
    }
    for (const lf of cmd.linkFiles) {
      if (fs.existsSync(path.resolve(req.cwd, lf))) add(this.ctx.declarer.declare(lf, req.cwd));
    }
    for (const list of await Promise.all(extra)) values.push(...list);
    const linkEnv = thunkEnv(tc, req);
    if (linkEnv !== tc.env) values.push(this.ctx.declarer.declareAbsolute(UTF8_CTYPE));
    // the files the driver adds for this link's flags (crtfastmath.o for -ffast-math, libgomp for -fopenmp...)
    const extras = linkExtrasOf(linkArgs).flatMap((e) => linking.extras[e] ?? []);
    const t = this.toolInputs(tc, [...linking.link, ...extras]);
    return this.thunk({
      function: tc.driverName,
      args,
      env: linkEnv,
      values: [...values, ...t.values],
      thunks,
      executables: t.executables,
      outputs: ['gg.out'],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: TIMEOUT.link,
    });
  }
}
