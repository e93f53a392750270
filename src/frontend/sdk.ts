/**
 * The TypeScript SDK: build thunk graphs in code and write them to a store.
 *
 *   const g = new GraphBuilder(store);
 *   const sh = g.file('/bin/sh');
 *   const t = g.thunk({ function: sh, args: ['sh', '-c', 'echo hi > out'], outputs: ['out'] });
 *   // t.name is the thunk's name; t.output('out') references one output; force it with gg force.
 *
 * Front ends (gg test, gg map, examples/video) use the helpers below: `tools` (programs and their closures,
 * merged into one executables list), `dataDir` (a directory tree as inputs), `fanOut` (one thunk per item) and
 * `fanIn` (one thunk over many outputs, each at a file name).
 *
 * Everything is validated as it is built (GG_E_THUNK_INVALID), so a front end cannot write a thunk that a
 * runner would later reject.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { joinTag, isThunkName, splitTag } from '../ir/name.js';
import { encodeThunk, sortInputs, validateThunk, type Thunk, type ThunkInput } from '../ir/thunk.js';
import { computeName } from '../ir/name.js';
import { executableClosure } from './executable-closure.js';
import type { Store } from '../store/store.js';
import type { LocalStore } from '../store/local-store.js';

/** An input: a bare name, or a name with the file name it appears under in the working directory. */
export type InputSpec = string | ThunkInput;

export interface ThunkSpec {
  /** Name of the executable to run (it is added to `executables` if missing). */
  function: string;
  /** argv including argv[0]; `@{GGHASH:NAME}` stands for the path of object NAME at run time. */
  args: string[];
  /** The complete environment, as NAME=VALUE or a record. Nothing else is inherited. */
  env?: string[] | Record<string, string>;
  values?: InputSpec[];
  /** Outputs of other thunks: `T...` (main output) or `T...#tag`. */
  thunks?: InputSpec[];
  executables?: InputSpec[];
  outputs: string[];
  /** How long a run is expected to take at most: past it, the scheduler may start a duplicate (gg's straggler hint). Never kills. */
  timeoutMs?: number;
  links?: Record<string, string>;
  cwd?: string;
}

function toInput(s: InputSpec): ThunkInput {
  return typeof s === 'string' ? { name: s } : s;
}

/** Build a validated, canonical Thunk from a spec (no I/O). */
export function defineThunk(spec: ThunkSpec): Thunk {
  const executables = (spec.executables ?? []).map(toInput);
  if (!executables.some((e) => e.name === spec.function)) executables.push({ name: spec.function });
  const env =
    spec.env === undefined
      ? []
      : Array.isArray(spec.env)
        ? spec.env
        : Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  // A thunk input given by a plain thunk name of another thunk's output stays in `thunks`; values only in `values`.
  const values: ThunkInput[] = [];
  const thunks: ThunkInput[] = (spec.thunks ?? []).map(toInput);
  for (const v of (spec.values ?? []).map(toInput))
    (isThunkName(v.name) && splitTag(v.name).tag !== undefined ? thunks : values).push(v);
  const t: Thunk = {
    function: { hash: spec.function, args: [...spec.args], envars: env },
    values: sortInputs(values),
    thunks: sortInputs(thunks),
    executables: sortInputs(executables),
    outputs: [...spec.outputs],
    timeout: spec.timeoutMs ?? 0,
    links: { ...(spec.links ?? {}) },
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
  };
  validateThunk(t);
  return t;
}

export interface WrittenThunk {
  name: string;
  thunk: Thunk;
  /** Reference to one output: the bare name for the first output, `T...#tag` for the others (gg's rule). */
  output(tag?: string): string;
}

export function thunkHandle(name: string, thunk: Thunk): WrittenThunk {
  return {
    name,
    thunk,
    output(tag?: string): string {
      if (tag === undefined || tag === thunk.outputs[0]) return name;
      if (!thunk.outputs.includes(tag)) throw new Error(`thunk ${name} has no output '${tag}'`);
      return joinTag(name, tag);
    },
  };
}

/** Encode and name a thunk without storing it. */
export function nameThunk(thunk: Thunk): { name: string; bytes: Buffer } {
  const bytes = encodeThunk(thunk);
  return { name: computeName(bytes), bytes };
}

export async function writeThunk(store: Store, thunk: Thunk): Promise<WrittenThunk> {
  const { bytes } = nameThunk(thunk);
  const { name } = await store.put(bytes);
  return thunkHandle(name, thunk);
}

export interface ExecutableFile {
  /** Name of the program's content: the function of a thunk that runs it. */
  name: string;
  /** Absolute path it is declared at (where it runs in the jail). */
  path: string;
  /** The program and its closure, each at its absolute path: a thunk's executables. */
  inputs: ThunkInput[];
}

/** Synchronous graph builder over the local store: the shape front ends (infer models, examples) use. */
export class GraphBuilder {
  /** Closures found so far: each costs a run of the program's loader (`ld.so --list`). */
  private readonly closures = new Map<string, ExecutableFile>();

  constructor(readonly store: LocalStore) {}

  /** Store a file's content (copied, hashed once thanks to the hash cache); returns its name. */
  file(path: string): string {
    return this.store.putFileSync(path).name;
  }

  /** Store bytes or text; returns the name. */
  value(data: Buffer | string): string {
    return this.store.putSync(typeof data === 'string' ? Buffer.from(data) : data).name;
  }

  /**
   * A host program with everything it needs to run in the jail (ELF interpreter, shared libraries, `#!`
   * interpreter), each stored and declared at its absolute path. Use `name` as the function and pass
   * `inputs` as executables:
   *
   *   const ls = g.executableFile('/bin/ls');
   *   g.thunk({ function: ls.name, executables: ls.inputs, args: ['ls', '-l'], outputs: ['out'] });
   */
  executableFile(path: string): ExecutableFile {
    const known = this.closures.get(path);
    if (known) return known;
    const files = executableClosure(path);
    const inputs = files.map((f) => ({ name: this.store.putFileSync(f.hostPath).name, filename: f.filename }));
    const exe = { name: inputs[0]!.name, path: files[0]!.filename, inputs };
    this.closures.set(path, exe);
    return exe;
  }

  /**
   * Several host programs with their closures, as one executables list (shared libraries declared once).
   * `names` maps each program's path, as given, to its name (a thunk's function when it runs that program).
   */
  tools(paths: readonly string[]): Toolset {
    const names = new Map<string, string>();
    const inputs = new Map<string, ThunkInput>();
    for (const p of paths) {
      const exe = this.executableFile(p);
      names.set(p, exe.name);
      for (const i of exe.inputs) if (i.filename !== undefined && !inputs.has(i.filename)) inputs.set(i.filename, i);
    }
    return { names, inputs: [...inputs.values()] };
  }

  /**
   * Every regular file under `dir` (recursively; symbolic links to files are followed, to directories are
   * not), stored and declared at `at` + its path relative to `dir`. `at` defaults to the directory's absolute
   * path, where programs that were built with it compiled in will look; a relative `at` puts it in the
   * working directory.
   */
  dataDir(dir: string, at: string = path.resolve(dir)): ThunkInput[] {
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory())
      throw new GgError('GG_E_FILE_NOT_FOUND', `data directory ${dir} does not exist`, {
        hint: 'give a directory of files the program reads',
      });
    const out: ThunkInput[] = [];
    const walk = (host: string, rel: string): void => {
      for (const e of fs.readdirSync(host, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const h = path.join(host, e.name);
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) walk(h, r);
        else if ((e.isFile() || e.isSymbolicLink()) && fs.statSync(h, { throwIfNoEntry: false })?.isFile()) {
          out.push({ name: this.file(h), filename: path.posix.join(at, r) });
        }
      }
    };
    walk(dir, '');
    return out;
  }

  thunk(spec: ThunkSpec): WrittenThunk {
    const thunk = defineThunk(spec);
    const { bytes } = nameThunk(thunk);
    const { name } = this.store.putSync(bytes);
    return thunkHandle(name, thunk);
  }

  /** Fan-out: one thunk per item, in order (`spec` builds each one's spec from its item). */
  fanOut<T>(items: readonly T[], spec: (item: T, index: number) => ThunkSpec): WrittenThunk[] {
    return items.map((item, i) => this.thunk(spec(item, i)));
  }

  /**
   * Fan-in: one thunk that takes `parts` (outputs of other thunks, or values) at the given file names, e.g.
   * the encoded chunks a concatenation reads. `spec.thunks`/`spec.values` are kept and added to.
   */
  fanIn(parts: readonly { ref: string; filename: string }[], spec: ThunkSpec): WrittenThunk {
    const thunks = [...(spec.thunks ?? [])];
    const values = [...(spec.values ?? [])];
    for (const p of parts)
      (isThunkName(splitTag(p.ref).name) ? thunks : values).push({ name: p.ref, filename: p.filename });
    return this.thunk({ ...spec, thunks, values });
  }
}

/** Programs and their closures (see GraphBuilder.tools). */
export interface Toolset {
  /** Program path as given -> its name. */
  names: Map<string, string>;
  /** Every file the programs need, each at its absolute path, once. */
  inputs: ThunkInput[];
}
