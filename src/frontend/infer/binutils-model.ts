/**
 * Models of the binutils a build runs on its objects: `as`, `ld -r`, `strip` and `objcopy` in their common
 * forms. Each becomes one thunk running the real tool in the build directory on the same relative names,
 * its output left as a placeholder (in place for `strip FILE` and `objcopy IN`). Inputs that are still
 * placeholders are declared as their thunks' outputs, so the graph links up. Anything else (listings,
 * dependency files, options not listed here) runs the real tool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writePlaceholder } from '../../ir/placeholder.js';
import type { ThunkInput } from '../../ir/thunk.js';
import { expandResponseFiles } from './gcc-args.js';
import { real, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';

/** How a tool's options are read: those taking a separate argument, and those taking a file to read. */
interface OptionTable {
  /** Options with a separate argument (`-o FILE` is handled apart). */
  withArg: Set<string>;
  /** Options (alone or as `--opt=VALUE`) that are understood and change nothing else. */
  plain: RegExp;
  /** Options whose (joined or separate) argument names a file the tool reads, and its form. */
  readsFile?: RegExp;
}

const AS: OptionTable = {
  withArg: new Set(['-I', '--defsym', '-march', '-mtune']),
  plain:
    /^(--64|--32|--x32|-g|--gen-debug|-g[0-9]|--gdwarf-?[0-9]+|--gdwarf-sections|-W|--warn|--fatal-warnings|--no-warn|-Z|-R|-L|--keep-locals|-J|-K|-n|-Q[yn]?|-V|-v|--noexecstack|--execstack|--size-check=.*|--elf-stt-common=.*|--generate-missing-build-notes=.*|-mx86-used-note=.*|-march=.*|-mtune=.*|-mmnemonic=.*|-msyntax=.*|-mnaked-reg|-mrelax-relocations=.*|--compress-debug-sections(=.*)?|--nocompress-debug-sections|--strip-local-absolute|-I.+|--defsym=.*|--statistics|-D|--traditional-format|-mno-shared|-mshared|-O[0-9s]?)$/,
};

const LD_R: OptionTable = {
  withArg: new Set(['-m', '-L', '-T', '-e', '-u']),
  plain:
    /^(-r|-Ur|-i|--relocatable|-x|-X|-S|-s|--discard-all|--discard-locals|--strip-debug|--strip-all|--build-id(=.*)?|--no-undefined|-z\S*|-m.+|-L.+|-u.+|--whole-archive|--no-whole-archive|--gc-sections|--no-gc-sections|-O[0-9]?|--sort-section=.*|-d|-dc|-dp|--no-warn-mismatch|-plugin-opt=.*|--hash-style=.*|-EL|-EB)$/,
  readsFile: /^(-T|--script)(=(.*))?$/,
};

const STRIP: OptionTable = {
  withArg: new Set([
    '-K',
    '-N',
    '-R',
    '-F',
    '-I',
    '-O',
    '--keep-symbol',
    '--strip-symbol',
    '--remove-section',
    '--keep-section',
    '--remove-relocations',
  ]),
  plain:
    /^(-s|-g|-S|-d|-x|-X|-p|-D|-U|-M|--strip-all|--strip-debug|--strip-dwo|--strip-unneeded|--discard-all|--discard-locals|--preserve-dates|--enable-deterministic-archives|--disable-deterministic-archives|--merge-notes|--no-merge-notes|--keep-file-symbols|--only-keep-debug|--keep-section-symbols|--keep-symbol=.*|--strip-symbol=.*|--remove-section=.*|--keep-section=.*|--remove-relocations=.*|-K.+|-N.+|-R.+|--target=.*|--input-target=.*|--output-target=.*|-w|--wildcard)$/,
  readsFile: /^(--keep-symbols|--strip-symbols)(=(.*))?$/,
};

const OBJCOPY: OptionTable = {
  withArg: new Set([
    '-I',
    '-O',
    '-B',
    '-F',
    '-j',
    '-R',
    '-K',
    '-N',
    '-L',
    '-G',
    '-W',
    '--only-section',
    '--remove-section',
    '--keep-symbol',
    '--strip-symbol',
    '--localize-symbol',
    '--globalize-symbol',
    '--weaken-symbol',
    '--redefine-sym',
    '--rename-section',
    '--set-section-flags',
    '--set-section-alignment',
    '--add-symbol',
    '--prefix-symbols',
    '--prefix-sections',
    '--prefix-alloc-sections',
    '--change-section-address',
    '--change-section-lma',
    '--change-section-vma',
    '--set-start',
    '--pad-to',
    '--gap-fill',
    '--elf-stt-common',
  ]),
  plain:
    /^(-g|-S|-x|-X|-p|-D|-U|-w|--strip-all|--strip-debug|--strip-dwo|--strip-unneeded|--only-keep-debug|--extract-dwo|--discard-all|--discard-locals|--keep-file-symbols|--enable-deterministic-archives|--disable-deterministic-archives|--preserve-dates|--compress-debug-sections(=.*)?|--decompress-debug-sections|--weaken|--localize-hidden|--keep-section-symbols|--merge-notes|--no-merge-notes|--wildcard|--input-target=.*|--output-target=.*|--binary-architecture=.*|--target=.*|--only-section=.*|--remove-section=.*|--keep-symbol=.*|--strip-symbol=.*|--localize-symbol=.*|--globalize-symbol=.*|--weaken-symbol=.*|--redefine-sym=.*|--rename-section=.*|--set-section-flags=.*|--set-section-alignment=.*|--add-symbol=.*|--prefix-symbols=.*|--prefix-sections=.*|--prefix-alloc-sections=.*|--set-start=.*|--pad-to=.*|--gap-fill=.*|-[IOBFjRKNLGW].+)$/,
  readsFile:
    /^(--add-gnu-debuglink|--keep-symbols|--strip-symbols|--localize-symbols|--globalize-symbols|--weaken-symbols|--redefine-syms|--keep-global-symbols)(=(.*))?$/,
};

/** --add-section NAME=FILE / --update-section NAME=FILE: the file is read. */
const SECTION_FILE = /^--(add|update)-section(=(.*))?$/;

interface Parsed {
  /** argv without argv[0], the output replaced by the tag (or `-o TAG` added). */
  args: string[];
  inputs: string[];
  /** Files the options name (read, not written). */
  reads: string[];
  output: string;
}

const TAG = 'gg.out';

/**
 * Read a command: `inPlace` tools (strip, objcopy) write over their input when no output is named
 * (strip: `-o OUT`; objcopy: a second file argument).
 */
function parse(args: string[], table: OptionTable, tool: 'as' | 'ld' | 'strip' | 'objcopy'): Parsed {
  const out: string[] = [];
  const files: { index: number; path: string }[] = [];
  const reads: string[] = [];
  let output: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string => {
      if (i + 1 >= args.length) real('a flag is missing its argument', a);
      return args[++i]!;
    };
    if (a === '-o' || (a.startsWith('-o') && tool !== 'ld' && a.length > 2)) {
      output = a === '-o' ? next() : a.slice(2);
      out.push('-o', TAG);
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      if (a === '-') real('input from stdin');
      files.push({ index: out.length, path: a });
      out.push(a);
      continue;
    }
    const rf = table.readsFile?.exec(a);
    if (rf) {
      const v = rf[3] ?? (rf[2] === undefined ? next() : '');
      if (!v) real('a flag is missing its argument', a);
      reads.push(v);
      out.push(...(rf[2] === undefined ? [a, v] : [a]));
      continue;
    }
    const sf = SECTION_FILE.exec(a);
    if (sf && tool === 'objcopy') {
      const v = sf[3] ?? next();
      const eq = v.indexOf('=');
      if (eq < 0) real('a flag not modelled', a);
      reads.push(v.slice(eq + 1));
      out.push(...(sf[2] === undefined ? [a, v] : [a]));
      continue;
    }
    if (table.withArg.has(a)) {
      out.push(a, next());
      continue;
    }
    if (table.plain.test(a)) {
      out.push(a);
      continue;
    }
    real(`${tool}: a flag not modelled`, a);
  }
  if (files.length === 0) real(`${tool} without input files`);
  if (tool === 'objcopy') {
    if (files.length > 2) real('objcopy with more than two files');
    if (output !== undefined) real('a flag not modelled', 'objcopy -o');
    if (files.length === 2) {
      const dest = files.pop()!;
      output = dest.path;
      out[dest.index] = TAG;
    }
  }
  if (output === undefined) {
    if (tool === 'as') output = 'a.out';
    else if (tool === 'ld') real('ld -r without -o');
    else if (files.length !== 1) real(`${tool} of several files in place`);
    else output = files[0]!.path;
    if (tool !== 'objcopy') out.push('-o', TAG);
    else out.push(TAG);
  }
  return { args: out, inputs: files.map((f) => f.path), reads, output };
}

/** `.include "f"` and `.incbin "f"` in an assembly source: files the assembler reads besides it. */
function asmIncludes(text: string): string[] {
  return [...text.matchAll(/^\s*\.(?:include|incbin)\s+"([^"\n]+)"/gm)].map((m) => m[1]!);
}

export class BinutilsModel {
  constructor(private readonly ctx: InferContext) {}

  async run(req: ModelRequest): Promise<ModelAnswer> {
    const tool = req.tool as 'as' | 'ld' | 'strip' | 'objcopy';
    const argv = expandResponseFiles(req.argv.slice(1), req.cwd);
    if (argv.some((a) => /^(--help|--version|-v|-V|--info)$/.test(a)))
      real('a query (--version, -print-*, -dump*, ...)', `${tool} ${argv.join(' ')}`);
    if (/\/(CMakeFiles|meson-private)(\/|$)/.test(req.cwd)) real('a configure, CMake or Meson probe');
    if (tool === 'as' && argv.some((a) => /^(--MD|-a.*|--listing.*)$/.test(a)))
      real('the assembler writes more', argv.join(' '));
    if (tool === 'ld' && !argv.some((a) => ['-r', '-i', '-Ur', '--relocatable'].includes(a)))
      real('ld is modelled for relocatable links (-r) only');
    const table = tool === 'as' ? AS : tool === 'ld' ? LD_R : tool === 'strip' ? STRIP : OBJCOPY;
    const p = parse(argv, table, tool);
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    const values: ThunkInput[] = [];
    const thunks: ThunkInput[] = [];
    const declare = (file: string): void => {
      const d = this.ctx.declarer.declare(file, req.cwd);
      (d.kind === 'thunk' ? thunks : values).push(d.input);
    };
    for (const f of [...p.inputs, ...p.reads]) declare(f);
    if (tool === 'as') {
      const dirs = argv.flatMap((a, i) =>
        a === '-I' ? [argv[i + 1]!] : a.startsWith('-I') && a.length > 2 ? [a.slice(2)] : [],
      );
      for (const src of p.inputs) {
        const text = fs.readFileSync(path.resolve(req.cwd, src), 'latin1');
        for (const inc of asmIncludes(text)) {
          const found = [path.dirname(src), '.', ...dirs]
            .map((d) => path.join(d, inc))
            .find((c) => fs.existsSync(path.resolve(req.cwd, c)));
          if (found === undefined) real('an assembler .include not found', inc);
          declare(found);
        }
      }
    }
    const t = await this.ctx.toolchains.tool(tool, [...values, ...thunks]);
    const thunk = this.ctx.builder.thunk({
      function: t.programName,
      args: [t.program, ...p.args],
      env: t.env,
      values: [...values, ...t.inputs.filter((i) => i.filename !== t.program)],
      thunks,
      executables: [{ name: t.programName, filename: t.program }],
      outputs: [TAG],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: 5_000,
    });
    this.ctx.stats.thunks++;
    const out = path.resolve(req.cwd, p.output);
    const mode = fs.statSync(out, { throwIfNoEntry: false })?.mode;
    writePlaceholder(out, thunk.name);
    this.ctx.outputs.add(out);
    if (mode !== undefined) fs.chmodSync(out, mode & 0o777);
    this.ctx.log(`${tool}: ${p.output} <- ${p.inputs.join(' ')}`);
    return { kind: 'exit', status: 0 };
  }
}
