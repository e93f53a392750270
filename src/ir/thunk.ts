/**
 * The thunk: a frozen call (executable + args + env + inputs, every piece named by content) and the tags of
 * the outputs it writes. Encoded exactly as gg does: `##GGTHUNK##` + protobuf `gg.protobuf.Thunk`, with input
 * lists sorted so that the same thunk always has the same bytes, hence the same name. See docs/IR.md.
 */
import path from 'node:path';
import { GgError } from '../errors.js';
import { computeName, isSafeTag, isThunkName, isValidName, splitTag, THUNK_MAGIC } from './name.js';
import { ProtoWriter, readFields } from './protobuf.js';

/** One declared input: an object name (`T...#tag` for a thunk output) and the file name it appears under. */
export interface ThunkInput {
  name: string;
  filename?: string;
}

export interface ThunkFunction {
  /** Name of the executable to run; must be one of the thunk's executables. */
  hash: string;
  /** argv, argv[0] included. */
  args: string[];
  /** `NAME=VALUE`; the only environment the program sees. */
  envars: string[];
}

export interface Thunk {
  function: ThunkFunction;
  values: ThunkInput[];
  thunks: ThunkInput[];
  executables: ThunkInput[];
  /** Output tags; the first is the main output (referenced by the bare thunk name). */
  outputs: string[];
  /** Milliseconds; 0 = engine default. */
  timeout: number;
  /** gg's `links` map (field 7), kept and encoded canonically; symlinks name -> target in the working dir. */
  links: Record<string, string>;
  /**
   * gg-ts extension (field 16, docs/IR.md): directory, relative to the working directory, in which the
   * program starts. Build tools run compilers from sub-directories; empty = the working directory itself.
   */
  cwd?: string;
}

const FIELD_CWD = 16;
const MAGIC = Buffer.from(THUNK_MAGIC, 'latin1');
const PLACEHOLDER_RE = /@\{GGHASH:([^}]*)\}/g;

export function inputToString(i: ThunkInput): string {
  return i.filename === undefined || i.filename === '' ? i.name : `${i.name}=${i.filename}`;
}

export function parseInput(s: string): ThunkInput {
  const eq = s.indexOf('=');
  if (eq < 0) return { name: s };
  return { name: s.slice(0, eq), filename: s.slice(eq + 1) };
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Order of the UTF-8 bytes (gg's order). Without surrogates (every name, nearly every file name) that is the
 * order of the UTF-16 code units JavaScript compares, so no bytes are made: a link thunk's few hundred inputs
 * took thousands of Buffer allocations per sort.
 */
function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Canonical order: by name, then by file name (an input without one first); duplicates dropped. */
export function sortInputs(list: readonly ThunkInput[]): ThunkInput[] {
  const sorted = [...list].sort(
    (x, y) => compareBytes(x.name, y.name) || compareBytes(x.filename ?? '', y.filename ?? ''),
  );
  return sorted.filter((x, i) => i === 0 || inputToString(x) !== inputToString(sorted[i - 1]!));
}

export function encodeThunk(t: Thunk): Buffer {
  const fn = new ProtoWriter();
  fn.string(1, t.function.hash);
  for (const a of t.function.args) fn.string(2, a);
  for (const e of t.function.envars) fn.string(3, e);
  const w = new ProtoWriter();
  w.bytes(1, fn.finish());
  for (const v of sortInputs(t.values)) w.string(2, inputToString(v));
  for (const v of sortInputs(t.thunks)) w.string(3, inputToString(v));
  for (const v of sortInputs(t.executables)) w.string(4, inputToString(v));
  for (const o of t.outputs) w.string(5, o);
  if (t.timeout) w.uint32(6, t.timeout);
  for (const key of Object.keys(t.links).sort(compareBytes)) {
    const entry = new ProtoWriter();
    entry.string(1, key);
    entry.string(2, t.links[key]!);
    w.bytes(7, entry.finish());
  }
  if (t.cwd) w.string(FIELD_CWD, t.cwd);
  return Buffer.concat([MAGIC, w.finish()]);
}

function malformed(msg: string): GgError {
  return new GgError('GG_E_THUNK_INVALID', msg, {
    hint: 'the object is not a valid gg thunk; re-create it with gg create-thunk or the SDK',
  });
}

/** Decode and validate; thunks come from anyone's store, so nothing in them is trusted. */
export function decodeThunk(data: Buffer): Thunk {
  const t = parseThunk(data);
  validateThunk(t);
  return t;
}

/**
 * Decode without validating (validation is most of a decode's cost): only for lookups whose answer is trusted
 * no further than the store itself. Two use it: which compiler made an object (asked of every member of an
 * archive) and the memo entry of a thunk rewritten with its dependencies' known results (known-outputs.ts).
 * Anything that runs a thunk or places its parts uses decodeThunk.
 */
export function parseThunk(data: Buffer): Thunk {
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw malformed('not a thunk: missing ##GGTHUNK## header');
  }
  const t: Thunk = {
    function: { hash: '', args: [], envars: [] },
    values: [],
    thunks: [],
    executables: [],
    outputs: [],
    timeout: 0,
    links: {},
  };
  const str = (b: Buffer): string => b.toString('utf8');
  for (const f of readFields(data.subarray(MAGIC.length))) {
    if (f.wire === 0) {
      if (f.field === 6) t.timeout = f.value;
      continue;
    }
    switch (f.field) {
      case 1:
        for (const g of readFields(f.value)) {
          if (g.wire !== 2) continue;
          if (g.field === 1) t.function.hash = str(g.value);
          else if (g.field === 2) t.function.args.push(str(g.value));
          else if (g.field === 3) t.function.envars.push(str(g.value));
        }
        break;
      case 2:
        t.values.push(parseInput(str(f.value)));
        break;
      case 3:
        t.thunks.push(parseInput(str(f.value)));
        break;
      case 4:
        t.executables.push(parseInput(str(f.value)));
        break;
      case 5:
        t.outputs.push(str(f.value));
        break;
      case 7: {
        let key = '';
        let value = '';
        for (const g of readFields(f.value)) {
          if (g.wire !== 2) continue;
          if (g.field === 1) key = str(g.value);
          else if (g.field === 2) value = str(g.value);
        }
        t.links[key] = value;
        break;
      }
      case FIELD_CWD:
        t.cwd = str(f.value);
        break;
      default:
        break; // unknown fields: ignored, as proto3 does
    }
  }
  return t;
}

export function thunkName(t: Thunk): string {
  return computeName(encodeThunk(t));
}

/** A relative file name must stay inside the working directory; an absolute one is placed by the sandbox. */
export function isSafeFilename(filename: string): boolean {
  if (filename === '' || filename.includes('\0') || Buffer.byteLength(filename) > MAX_PATH_BYTES) return false;
  const parts = filename.split('/');
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return false; // NAME_MAX
  if (path.isAbsolute(filename)) return !parts.includes('..');
  return !parts.includes('..') && path.normalize(filename) !== '.';
}

/** Check everything a runner relies on; throws GG_E_THUNK_INVALID naming the first problem. */
export function validateThunk(t: Thunk): void {
  const bad = (msg: string): never => {
    throw new GgError('GG_E_THUNK_INVALID', `invalid thunk: ${msg}`, {
      hint: 'fix the thunk description (see docs/IR.md for what a valid thunk holds)',
    });
  };
  if (t.outputs.length === 0) bad('it declares no output');
  if (t.executables.length === 0) bad('it declares no executable');
  if (t.function.args.length === 0) bad('the function has no arguments (argv[0] is required)');
  if (!isValidName(t.function.hash)) bad(`function hash '${t.function.hash}' is not an object name`);
  if (!t.executables.some((e) => e.name === t.function.hash))
    bad(`function ${t.function.hash} is not among its executables`);
  const seenTags = new Set<string>();
  for (const o of t.outputs) {
    if (!isSafeTag(o)) bad(`output tag '${o}' is not a plain file name (no '/', '#', '=', '..')`);
    if (seenTags.has(o)) bad(`output tag '${o}' is declared twice`);
    seenTags.add(o);
  }
  const files = new Map<string, string>();
  const check = (list: ThunkInput[], kind: 'value' | 'thunk' | 'executable'): void => {
    for (const i of list) {
      const { name, tag } = splitTag(i.name);
      if (!isValidName(name)) bad(`${kind} '${i.name}' is not an object name`);
      if (kind === 'thunk' ? !isThunkName(name) : isThunkName(name) && tag !== undefined)
        bad(`${kind} '${i.name}' has the wrong type`);
      if (kind !== 'thunk' && tag !== undefined) bad(`${kind} '${i.name}' cannot carry an output tag`);
      if (tag !== undefined && !isSafeTag(tag)) bad(`${kind} '${i.name}' has an invalid tag`);
      if (i.filename !== undefined) {
        if (!isSafeFilename(i.filename)) bad(`input file name '${i.filename}' escapes the working directory`);
        const normal = path.normalize(i.filename);
        const prev = files.get(normal);
        if (prev !== undefined && prev !== i.name) bad(`file name '${i.filename}' is given to two different objects`);
        files.set(normal, i.name);
      }
    }
  };
  check(t.values, 'value');
  check(t.thunks, 'thunk');
  check(t.executables, 'executable');
  for (const e of t.function.envars) if (!e.includes('=')) bad(`environment entry '${e}' has no '='`);
  for (const [k, v] of Object.entries(t.links)) {
    if (!isSafeFilename(k) || path.isAbsolute(k)) bad(`link name '${k}' escapes the working directory`);
    if (v === '' || v.includes('\0') || Buffer.byteLength(v) > MAX_PATH_BYTES)
      bad(`link '${k}' has an empty, over-long or NUL-holding target`);
  }
  if (t.cwd !== undefined && t.cwd !== '' && (path.isAbsolute(t.cwd) || !isSafeFilename(t.cwd))) {
    bad(`working directory '${t.cwd}' escapes the working directory`);
  }
  if (!Number.isInteger(t.timeout) || t.timeout < 0 || t.timeout > MAX_TIMEOUT_MS)
    bad(`timeout ${t.timeout} is not an integer from 0 to ${MAX_TIMEOUT_MS} ms`);
  checkNotThroughLinks(t, bad);
  checkExecSizes(t, bad);
}

/** Paths and link targets stay under PATH_MAX (4096 with its NUL) with room for the run directory's own. */
const MAX_PATH_BYTES = 3072;
/** Largest timer Node (and setTimeout) can hold: a larger value fires after 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Linux's MAX_ARG_STRLEN: execve refuses a longer single argument or environment string (E2BIG). */
const MAX_ARG_BYTES = 128 * 1024 - 1;
/** What argv + envp (strings and pointers) may take: well under the usual 2 MiB (a quarter of an 8 MiB stack). */
const MAX_EXEC_BYTES = 1024 * 1024;
/** bubblewrap takes at most 9,000 arguments and each variable is three (--setenv NAME VALUE). */
const MAX_ENVARS = 2048;

/**
 * The run directory is built on the host, as root: nothing may be placed through (or on top of) one of the
 * thunk's own links, or `--link d=/etc --link d/x=...` would write to the host. Names are normalised first.
 */
function checkNotThroughLinks(t: Thunk, bad: (msg: string) => never): void {
  const links = Object.keys(t.links);
  if (links.length === 0) return;
  const parts = (p: string): string[] =>
    path.posix
      .normalize(p)
      .split('/')
      .filter((x) => x !== '' && x !== '.');
  const linkSet = new Set(links.map((k) => parts(k).join('/')));
  if (linkSet.size !== links.length) bad('two of its links have the same name');
  const through = (p: string, what: string, exactToo: boolean): void => {
    const parts_ = parts(p);
    for (let i = 1; i <= parts_.length; i++) {
      if (i === parts_.length && !exactToo) break;
      const prefix = parts_.slice(0, i).join('/');
      if (linkSet.has(prefix))
        bad(`${what} '${p}' ${i === parts_.length ? 'is' : 'passes through'} the link '${prefix}'`);
    }
  };
  for (const k of links) through(k, 'link', false);
  for (const i of [...t.values, ...t.thunks, ...t.executables]) {
    if (i.filename !== undefined && !path.isAbsolute(i.filename)) through(i.filename, 'input file name', true);
  }
  const cwd = t.cwd ?? '';
  if (cwd !== '') through(cwd, 'working directory', true);
  for (const o of t.outputs) through(cwd === '' ? o : `${cwd}/${o}`, 'output', true);
}

/** What execve would refuse (NUL bytes, an over-long string, too much in all) is the thunk's fault, said up front. */
function checkExecSizes(t: Thunk, bad: (msg: string) => never): void {
  let total = 0;
  for (const [kind, list] of [
    ['argument', t.function.args],
    ['environment entry', t.function.envars],
  ] as const) {
    for (const s of list) {
      if (s.includes('\0'))
        bad(`${kind} ${JSON.stringify(s.slice(0, 40))}... holds a NUL byte, which a program cannot receive`);
      const n = Buffer.byteLength(s);
      if (n > MAX_ARG_BYTES)
        bad(
          `${kind} ${JSON.stringify(s.slice(0, 40))}... is ${n} bytes, over the ${MAX_ARG_BYTES}-byte limit of one execve string`,
        );
      total += n + 1 + 8;
    }
  }
  if (total > MAX_EXEC_BYTES)
    bad(`its arguments and environment take ${total} bytes, over the ${MAX_EXEC_BYTES}-byte limit`);
  if (t.function.envars.length > MAX_ENVARS)
    bad(`it declares ${t.function.envars.length} environment entries, over the limit of ${MAX_ENVARS}`);
}

/** The thunk references (`T...` or `T...#tag`) this thunk waits for. */
export function thunkDependencies(t: Thunk): string[] {
  return [...new Set(t.thunks.map((i) => i.name))];
}

/** Every `@{GGHASH:NAME}` in a string, with NAME as written. */
export function placeholdersIn(s: string): string[] {
  return [...s.matchAll(PLACEHOLDER_RE)].map((m) => m[1]!);
}

export function replacePlaceholders(s: string, resolve: (name: string) => string): string {
  return s.includes('@{GGHASH:') ? s.replace(PLACEHOLDER_RE, (_m, name: string) => resolve(name)) : s;
}

/**
 * Rewrite a thunk once its thunk inputs are forced: each `T...[#tag][=file]` becomes the value it reduced to,
 * and `@{GGHASH:T...}` in args/envars names that value instead. The result has a new ("updated") name.
 */
export function rewriteThunk(t: Thunk, resolved: ReadonlyMap<string, string>): Thunk {
  const lookup = (ref: string): string => resolved.get(ref) ?? ref;
  const values = [...t.values];
  const thunks: ThunkInput[] = [];
  for (const dep of t.thunks) {
    const to = resolved.get(dep.name);
    if (to === undefined) thunks.push(dep);
    else if (isThunkName(to))
      thunks.push({ name: to, ...(dep.filename === undefined ? {} : { filename: dep.filename }) });
    else values.push({ name: to, ...(dep.filename === undefined ? {} : { filename: dep.filename }) });
  }
  const sub = (s: string): string => replacePlaceholders(s, (name) => `@{GGHASH:${lookup(name)}}`);
  return {
    ...t,
    function: { hash: t.function.hash, args: t.function.args.map(sub), envars: t.function.envars.map(sub) },
    values: sortInputs(values),
    thunks: sortInputs(thunks),
  };
}
