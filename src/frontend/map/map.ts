/**
 * `gg map`: one command over many inputs, as GNU parallel and xargs run it, but each run is a thunk: in the
 * jail with the command's closure, the input (a file is declared at its path) and the `--with` files,
 * memoized per input. Replacement strings are GNU parallel's ({} {.} {/} {//} {/.} {#}); a command without
 * one gets the input as its last argument. A command given as several words runs as that argv (as xargs
 * does: no shell); one word with spaces runs through `sh -c` with the input shell-quoted, as parallel runs
 * every command; the programs such a line names at command positions are declared (others: --with).
 * Every run succeeds as a thunk whatever the command's exit status, so failures are memoized as results too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../../errors.js';
import { forceRefs, type ForceContext } from '../../force/force-command.js';
import type { ForceEvent } from '../../force/force.js';
import type { ThunkInput } from '../../ir/thunk.js';
import { findOnPath } from '../executable-closure.js';
import { GraphBuilder } from '../sdk.js';

export interface MapOptions {
  /** CMD ARGS..., with replacement strings. */
  command: string[];
  inputs: string[];
  jobs: number;
  /** Files the command writes, named by pattern ('{}.out'), copied back next to the inputs. */
  outputs?: string[];
  /** Extra files the command needs: a program (with its closure) or a data file, at its path. */
  with?: string[];
  /** Also write parallel's --results layout: DIR/1/INPUT/{seq,stdout,stderr}. */
  resultsDir?: string;
  /** Where relative inputs and outputs are (default: the current directory). */
  cwd?: string;
  onEvent?: (e: ForceEvent) => void;
  /** Aborting cancels queued and running thunks (Ctrl-C). */
  signal?: AbortSignal;
}

export interface MapItem {
  input: string;
  /** 1-based, as parallel's {#}. */
  seq: number;
  exitStatus: number;
  stdout: Buffer;
  stderr: Buffer;
  /** Output files written back (relative to cwd). */
  written: string[];
  /** Output files the command did not write. */
  missing: string[];
}

export interface MapReport {
  items: MapItem[];
  /** Inputs whose command exited non-zero or left a declared output unwritten. */
  failed: MapItem[];
  /** As GNU parallel: the number of failed inputs, 101 for more than 100. */
  exitCode: number;
  executed: number;
  cached: number;
  wallMs: number;
}

const RUNNER = `# gg map's runner (inside the jail): CMD ARGS...; outputs to collect are listed in gg-map-outputs
# Inputs are staged as hard links to the store; some programs (gzip -k) refuse a file with other links.
while IFS= read -r f; do cat -- "$f" > "$f.gg-copy" && mv -f -- "$f.gg-copy" "$f"; done < gg-map-inputs
"$@" < /dev/null > gg-map-stdout 2> gg-map-stderr
echo $? > gg-map-status
i=0
while IFS= read -r f; do
  if [ -f "$f" ]; then mv -f -- "$f" "gg-map-out$i"; else : > "gg-map-out$i"; echo "missing $i" >> gg-map-status; fi
  i=$((i + 1))
done < gg-map-outputs
`;

const MAX_INPUTS = 1_000_000;
const SHELL_CHARS = /[\s|&;<>()$`"'*?[\]#~=%\\]/;

/** GNU parallel's replacement strings for one input. */
export function replacements(input: string, seq: number): Record<string, string> {
  const slash = input.lastIndexOf('/');
  const base = slash < 0 ? input : input.slice(slash + 1);
  const dir = slash < 0 ? '.' : slash === 0 ? '/' : input.slice(0, slash);
  const noExt = (s: string): string => {
    const dot = s.lastIndexOf('.');
    return dot > s.lastIndexOf('/') + 1 ? s.slice(0, dot) : s;
  };
  return { '{}': input, '{.}': noExt(input), '{/}': base, '{//}': dir, '{/.}': noExt(base), '{#}': String(seq) };
}

const REPLACEMENT = /\{(?:\/\/|\/\.|\/|\.|#|)\}/g;

function substitute(s: string, r: Record<string, string>, quote: (v: string) => string = (v) => v): string {
  return s.replace(REPLACEMENT, (m) => quote(r[m]!));
}

export function shellQuote(s: string): string {
  return s !== '' && !SHELL_CHARS.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The argv one input runs (through `sh -c` for a one-word shell command line). */
export function commandFor(command: readonly string[], input: string, seq: number): string[] {
  const r = replacements(input, seq);
  const shell = command.length === 1 && /\s/.test(command[0]!);
  const hasReplacement = command.some((a) => new RegExp(REPLACEMENT.source).test(a));
  if (shell) {
    const line = hasReplacement ? substitute(command[0]!, r, shellQuote) : `${command[0]!} ${shellQuote(input)}`;
    return ['sh', '-c', line];
  }
  return hasReplacement ? command.map((a) => substitute(a, r)) : [...command, input];
}

/** Programs a shell command line names at command positions (first word, after | ; & && || ( ), when installed. */
export function shellPrograms(line: string): string[] {
  const out: string[] = [];
  for (const seg of line.split(/\|\||&&|[|;&()\n]/)) {
    const words = seg
      .trim()
      .split(/\s+/)
      .filter((w) => !/^\w+=/.test(w)); // skip VAR=value prefixes
    const w = words[0];
    if (
      w &&
      /^[\w./+-]+$/.test(w) &&
      ![
        'if',
        'then',
        'else',
        'fi',
        'for',
        'do',
        'done',
        'while',
        'case',
        'esac',
        'exec',
        'cd',
        'echo',
        'test',
        '[',
        'exit',
        'true',
        'false',
        'printf',
        'read',
        'set',
        'export',
      ].includes(w)
    ) {
      const p = findProgram(w);
      if (p) out.push(p);
    }
  }
  return out;
}

/** A program as the shell finds it: a path as given, a bare name on PATH. */
function findProgram(cmd: string): string | undefined {
  if (cmd.includes('/')) return fs.statSync(cmd, { throwIfNoEntry: false })?.isFile() ? path.resolve(cmd) : undefined;
  return findOnPath(cmd);
}

/** An output or input path the jail and the write-back can both use: relative, inside cwd. */
function relativeInside(p: string, what: string): string {
  const n = path.posix.normalize(p);
  if (
    path.posix.isAbsolute(n) ||
    n === '..' ||
    n.startsWith('../') ||
    n === '.' ||
    n.includes('\0') ||
    n.includes('\n')
  ) {
    throw new GgError('GG_E_USAGE', `${what} '${p}' is not a path inside the current directory`, {
      hint: 'outputs are written back relative to where gg map runs',
    });
  }
  return n;
}

export async function runMap(rt: ForceContext, o: MapOptions): Promise<MapReport> {
  const t0 = performance.now();
  const cwd = path.resolve(o.cwd ?? '.');
  if (o.command.length === 0)
    throw new GgError('GG_E_USAGE', 'no command given', {
      hint: 'gg map -- CMD ARGS... ::: INPUTS... (or inputs on stdin)',
    });
  if (o.inputs.length > MAX_INPUTS) throw new GgError('GG_E_USAGE', `more than ${MAX_INPUTS} inputs`);
  const g = new GraphBuilder(rt.local);
  const shell = o.command.length === 1 && /\s/.test(o.command[0]!);
  const main = shell ? '/bin/sh' : findProgram(o.command[0]!);
  if (!main)
    throw new GgError('GG_E_FILE_NOT_FOUND', `${o.command[0]} is not a program on PATH`, {
      hint: 'give an installed program (a shell command line as ONE argument runs through sh -c)',
    });
  const withFiles = (o.with ?? []).map((w) => {
    const abs = path.resolve(cwd, w);
    const st = fs.statSync(abs, { throwIfNoEntry: false });
    if (!st) throw new GgError('GG_E_FILE_NOT_FOUND', `--with ${w} does not exist`);
    return { w, abs, st };
  });
  const programs = [
    '/bin/sh',
    findProgram('mv') ?? '/bin/mv',
    findProgram('cat') ?? '/bin/cat',
    main,
    ...(shell ? shellPrograms(o.command[0]!) : []),
    ...withFiles.filter((f) => f.st.isFile() && (f.st.mode & 0o111) !== 0).map((f) => f.abs),
  ];
  const tools = g.tools([...new Set(programs)]);
  const extra: ThunkInput[] = withFiles
    .filter((f) => !(f.st.isFile() && (f.st.mode & 0o111) !== 0))
    .flatMap((f) => {
      const at = inJail(f.w, f.abs, cwd);
      return f.st.isDirectory() ? g.dataDir(f.abs, at) : [{ name: g.file(f.abs), filename: at }];
    });
  const runner = { name: g.value(RUNNER), filename: 'gg-map.sh' };
  const dirs = [...new Set(programs.map((p) => path.dirname(p)))];
  const env = {
    PATH: [...new Set([...dirs, '/usr/local/bin', '/usr/bin', '/bin'])].join(':'),
    HOME: '/tmp',
    TMPDIR: '/tmp',
  };

  const jobs = o.inputs.map((input, i) => {
    const seq = i + 1;
    const r = replacements(input, seq);
    const outs = (o.outputs ?? []).map((p) => relativeInside(substitute(p, r), 'output'));
    const values: ThunkInput[] = [
      runner,
      { name: g.value(outs.map((x) => `${x}\n`).join('')), filename: 'gg-map-outputs' },
      ...extra,
    ];
    const hostInput = path.resolve(cwd, input);
    const st = input === '' ? undefined : fs.statSync(hostInput, { throwIfNoEntry: false });
    const at = inJail(input, hostInput, cwd);
    if (st?.isFile()) values.push({ name: g.file(hostInput), filename: at });
    else if (st?.isDirectory()) values.push(...g.dataDir(hostInput, at));
    const copied = st?.isFile() && !path.isAbsolute(at) ? `${at}\n` : '';
    values.push({ name: g.value(copied), filename: 'gg-map-inputs' });
    const argv = commandFor(o.command, input, seq);
    const t = g.thunk({
      function: tools.names.get('/bin/sh')!,
      args: ['sh', 'gg-map.sh', ...argv],
      env,
      values: dedupe(values),
      executables: tools.inputs,
      outputs: ['gg-map-status', 'gg-map-stdout', 'gg-map-stderr', ...outs.map((_, k) => `gg-map-out${k}`)],
    });
    return { input, seq, outs, t };
  });
  rt.local.hashCache.flush();

  const refs = jobs.flatMap(({ t, outs }) => [
    t.name,
    t.output('gg-map-stdout'),
    t.output('gg-map-stderr'),
    ...outs.map((_, k) => t.output(`gg-map-out${k}`)),
  ]);
  const outcome = await forceRefs(rt, refs, {
    jobs: o.jobs,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  for (const ref of refs) {
    if (!outcome.results.has(ref))
      throw (
        outcome.failures[0]?.error ?? outcome.errors.get(ref) ?? new GgError('GG_E_INTERNAL', `no result for ${ref}`)
      );
  }
  const get = async (ref: string): Promise<Buffer> => rt.store.get(outcome.results.get(ref)!);
  const items: MapItem[] = [];
  for (const { input, seq, outs, t } of jobs) {
    const status = (await get(t.name)).toString('utf8').split('\n');
    const exitStatus = Number(status[0]);
    const missingIdx = new Set(
      status
        .slice(1)
        .map((l) => /^missing (\d+)$/.exec(l)?.[1])
        .filter((x): x is string => x !== undefined)
        .map(Number),
    );
    const written: string[] = [];
    const missing: string[] = [];
    for (const [k, out] of outs.entries()) {
      if (missingIdx.has(k)) {
        missing.push(out);
        continue;
      }
      await writeBack(rt, outcome.results.get(t.output(`gg-map-out${k}`))!, path.join(cwd, out));
      written.push(out);
    }
    items.push({
      input,
      seq,
      exitStatus: Number.isInteger(exitStatus) ? exitStatus : 255,
      stdout: await get(t.output('gg-map-stdout')),
      stderr: await get(t.output('gg-map-stderr')),
      written,
      missing,
    });
  }
  if (o.resultsDir) writeResults(path.resolve(cwd, o.resultsDir), items);
  const failed = items.filter((it) => it.exitStatus !== 0 || it.missing.length > 0);
  return {
    items,
    failed,
    exitCode: Math.min(failed.length, 101),
    executed: outcome.executed,
    cached: outcome.cached,
    wallMs: performance.now() - t0,
  };
}

/** Where a host path is declared in the jail: relative inside cwd stays relative, anything else absolute. */
function inJail(given: string, abs: string, cwd: string): string {
  const rel = path.relative(cwd, abs);
  if (!path.isAbsolute(given) && rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel))
    return rel.split(path.sep).join('/');
  return abs;
}

function dedupe(inputs: ThunkInput[]): ThunkInput[] {
  const seen = new Map<string, ThunkInput>();
  for (const i of inputs) {
    const key = i.filename ?? i.name;
    const prev = seen.get(key);
    if (prev && prev.name !== i.name)
      throw new GgError('GG_E_USAGE', `two different files would be at ${key} in the jail`, {
        hint: 'an input and a --with file clash',
      });
    seen.set(key, i);
  }
  return [...seen.values()];
}

/** Copy an output next to the host's files: temp file + rename, so a reader never sees half of it. */
async function writeBack(rt: ForceContext, name: string, dest: string): Promise<void> {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.gg-tmp-${process.pid}`;
  try {
    await rt.store.getToFile(name, tmp);
    fs.chmodSync(tmp, 0o644);
    fs.renameSync(tmp, dest);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** GNU parallel's --results DIR layout for one input source: DIR/1/ESCAPED-INPUT/{seq,stdout,stderr}. */
function writeResults(dir: string, items: readonly MapItem[]): void {
  for (const it of items) {
    const d = path.join(dir, '1', parallelEscape(it.input));
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'seq'), String(it.seq));
    fs.writeFileSync(path.join(d, 'stdout'), it.stdout);
    fs.writeFileSync(path.join(d, 'stderr'), it.stderr);
  }
}

/** parallel's escaping of an argument as a directory name: \ as \\, / as \_ (so it stays one level). */
export function parallelEscape(s: string): string {
  return s === '' ? '\\0' : s.replace(/\\/g, '\\\\').replace(/\//g, '\\_');
}
