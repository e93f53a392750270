/**
 * Fast answers: compile answers the model client replays by itself (client.c, `fast_replay`), without a
 * round trip through the server. A warm rebuild (after `make clean`) is mostly compiles the server answers
 * from its memo (gcc-model.ts's recorded answers), one at a time, each ~2 ms of the single-threaded
 * server's time; the client checks and writes the same files in a fraction of that, on any core.
 *
 * A fast answer is written only for an answer whose every object is memoized already (the server would not
 * force anything for it), and it holds:
 *  - the request's key: tool, cwd, argv and the variables that change what the model answers (FAST_ENV:
 *    PATH, the real PATH the toolchain is found on, the locale, gcc's search variables), compared byte for
 *    byte by the client;
 *  - the stat state (device, inode, size, mtime and ctime in ns) of every file the answer depends on: the
 *    answer's source and headers, and every input of its compile thunks (the toolchain too), each only
 *    when the hash cache names exactly that state with the content the answer was made from, and the state
 *    is older than a second (a later edit within the same timestamp tick could not be told apart);
 *  - the files to write: the placeholders (through a temp file and a rename, as writePlaceholder) and the
 *    dependency files.
 * The client replays only when every file is still in its state: an edit, a replaced file or a link moved
 * in place of one changes the inode or ctime (nobody can set a ctime back). Anything else goes to the
 * server, which answers as before and writes a new fast answer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { placeholderContent, placeholderKindFor } from '../../ir/placeholder.js';
import { decodeThunk, type Thunk } from '../../ir/thunk.js';
import { splitTag } from '../../ir/name.js';
import type { LocalStore } from '../../store/local-store.js';
import { settled } from '../../store/hash-cache.js';
import type { FileDeclarer } from './file-declarer.js';
import { GCC_ENV } from './gcc-args.js';
import type { ModelRequest } from './model.js';

/** The variables in the key, in this order (client.c's FAST_ENV is the same list). */
export const FAST_ENV = ['PATH', 'GG_INFER_REAL_PATH', 'LC_ALL', 'LC_CTYPE', 'LANG', ...GCC_ENV];

const MAGIC = 'GGFAST1';

/** The request's key, as the client builds it (NUL-terminated strings; an unset variable is its bare name). */
export function fastKey(req: ModelRequest): Buffer {
  const parts = ['GGF1', req.tool, req.cwd, String(req.argv.length), ...req.argv];
  for (const v of FAST_ENV) parts.push(req.env[v] === undefined ? v : `${v}=${req.env[v]}`);
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');
}

/** The file's name: two FNV-1a lanes over the key (only a name: the key itself is compared). */
export function fastName(key: Buffer): string {
  let a = 2166136261;
  let b = 0x84222325;
  for (const byte of key) {
    a = Math.imul(a ^ byte, 16777619) >>> 0;
    b = Math.imul(b ^ byte, 16777619) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

export function fastFile(dir: string, key: Buffer): string {
  const name = fastName(key);
  return path.join(dir, name.slice(0, 2), name);
}

export interface FastAnswerSpec {
  /** [absolute path, content name] the answer was made from. */
  checks: [string, string][];
  /** [absolute path, thunk reference] of each placeholder. */
  placeholders: [string, string][];
  /** [absolute path, text] of each dependency file. */
  depFiles: [string, string][];
}

/**
 * Writes (or replaces) the fast answer of `key`; nothing when any file's state cannot be vouched for, or an
 * object is not memoized yet. Returns whether one was written.
 */
export function writeFastAnswer(
  store: LocalStore,
  declarer: FileDeclarer,
  dir: string,
  key: Buffer,
  a: FastAnswerSpec,
  /** A thunk this run has just made, when at hand (else it is read back from the store). */
  thunkOf: (name: string) => Thunk | undefined = () => undefined,
): boolean {
  const root = declarer.root;
  const file = fastFile(dir, key);
  const drop = (): false => {
    fs.rmSync(file, { force: true });
    return false;
  };
  try {
    const checks = new Map<string, string>(a.checks);
    for (const [, ref] of a.placeholders) {
      if (store.getReductionSync(ref) === undefined) return drop();
      const name = splitTag(ref).name;
      const thunk = thunkOf(name) ?? decodeThunk(store.getSync(name));
      for (const i of [...thunk.values, ...thunk.executables]) {
        if (i.filename === undefined) return drop();
        // a relative file name is the file's name under the root (file-declarer.ts)
        checks.set(path.isAbsolute(i.filename) ? i.filename : path.join(root, i.filename), i.name);
      }
    }
    const now = BigInt(Date.now()) * 1_000_000n;
    const out: Buffer[] = [Buffer.from(`${MAGIC}\nK ${key.length}\n`), key, Buffer.from('\n')];
    for (const [p, name] of checks) {
      const known = declarer.stamped(p);
      if (known === undefined || known.name !== name) return drop();
      if (!settled(known.st, now)) return drop();
      let line = checkLines.get(known);
      if (line === undefined) {
        const st = known.st;
        const pb = Buffer.from(p, 'utf8');
        line = Buffer.concat([
          Buffer.from(`C ${pb.length} ${st.dev} ${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}\n`),
          pb,
          nl,
        ]);
        checkLines.set(known, line);
      }
      out.push(line);
    }
    const write = (kind: 'p' | 'd', mode: number, chmod: boolean, p: string, data: string): void => {
      const pb = Buffer.from(p, 'utf8');
      const db = Buffer.from(data, 'utf8');
      out.push(
        Buffer.from(`W ${kind} ${mode.toString(8)} ${chmod ? 1 : 0} ${pb.length} ${db.length}\n`),
        pb,
        nl,
        db,
        nl,
      );
    };
    for (const [p, ref] of a.placeholders) {
      const kind = placeholderKindFor(p);
      write('p', kind === 'shell' ? 0o755 : 0o644, kind === 'shell', p, placeholderContent(ref, kind));
    }
    for (const [p, text] of a.depFiles) write('d', 0o666, false, p, text);
    out.push(Buffer.from('E\n'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, Buffer.concat(out));
    fs.renameSync(tmp, file);
    return true;
  } catch {
    // a cache: without the file the server answers
    return drop();
  }
}

const nl = Buffer.from('\n');

/**
 * The check line of each stamp the declarer hands out: a file outside the root keeps one stamp for the run
 * (FileDeclarer.stamped), so the ~300 system headers of every compile's answer are encoded once, not per answer.
 */
const checkLines = new WeakMap<object, Buffer>();

/** The client's replays of this run (its log: `N path` per replayed command, N placeholders written). */
export function readFastLog(file: string): { commands: number; placeholders: number; first: string[] } {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { commands: 0, placeholders: 0, first: [] };
  }
  const lines = text.split('\n').filter((l) => l !== '');
  let placeholders = 0;
  const first: string[] = [];
  for (const l of lines) {
    const sp = l.indexOf(' ');
    placeholders += Number(l.slice(0, sp)) || 0;
    first.push(l.slice(sp + 1));
  }
  return { commands: lines.length, placeholders, first };
}
