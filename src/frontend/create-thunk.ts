/**
 * `gg create-thunk` as a library call: build a thunk from gg-style input declarations, check that every
 * object it names exists (the original checked nothing), store it, and optionally leave a placeholder.
 */
import path from 'node:path';
import { GgError } from '../errors.js';
import { assertName, isValidName, splitTag } from '../ir/name.js';
import { writePlaceholder } from '../ir/placeholder.js';
import { parseInput } from '../ir/thunk.js';
import type { LocalStore } from '../store/local-store.js';
import { GraphBuilder, type WrittenThunk } from './sdk.js';

export interface CreateThunkRequest {
  values: string[];
  thunks: string[];
  executables: string[];
  outputs: string[];
  envars: string[];
  links: string[];
  timeoutMs: number;
  cwd?: string;
  placeholder?: string;
  /** Host programs declared with their ELF/#! closure at their absolute paths (--executable-file). */
  executableFiles?: string[];
  /** FUNCTION-NAME ARGV0 ARGS... (FUNCTION may also be the path of one of the executableFiles). */
  command: string[];
}

export function createThunk(store: LocalStore, r: CreateThunkRequest): WrittenThunk {
  if (r.command.length < 2) {
    throw new GgError('GG_E_USAGE', 'missing the function and its argv', {
      hint: 'gg create-thunk ... -- FUNCTION-NAME ARGV0 [ARGS...]',
    });
  }
  const [given, ...args] = r.command as [string, ...string[]];
  const programs = (r.executableFiles ?? []).map((p) => new GraphBuilder(store).executableFile(p));
  // `--executable-file /bin/sh -- /bin/sh sh -c ...` names the function by path: it stands for /bin/sh's hash.
  const fn = isValidName(given) ? given : (programs.find((p) => p.path === path.resolve(given))?.name ?? given);
  assertName(fn, 'function name');
  const need = (ref: string, kind: string): void => {
    const { name } = splitTag(ref);
    assertName(name, `${kind} name`);
    if (!store.hasSync(name)) {
      throw new GgError('GG_E_OBJECT_MISSING', `${kind} ${name} is not in the store`, {
        hint: kind === 'thunk' ? 'create that thunk first' : 'collect the file first: gg collect FILE',
      });
    }
  };
  const values = r.values.map(parseInput);
  const thunks = r.thunks.map(parseInput);
  const executables = [...r.executables.map(parseInput), ...programs.flatMap((p) => p.inputs)];
  values.forEach((v) => need(v.name, 'value'));
  thunks.forEach((v) => need(v.name, 'thunk'));
  executables.forEach((v) => need(v.name, 'executable'));
  if (!executables.some((e) => e.name === fn)) {
    throw new GgError('GG_E_THUNK_INVALID', `the function ${fn} is not among the executables`, {
      hint: `add --executable ${fn}`,
    });
  }
  const links: Record<string, string> = {};
  for (const l of r.links) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new GgError('GG_E_USAGE', `--link '${l}' is not NAME=TARGET`);
    links[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const written = new GraphBuilder(store).thunk({
    function: fn,
    args,
    env: r.envars,
    values,
    thunks,
    executables,
    outputs: r.outputs,
    timeoutMs: r.timeoutMs,
    links,
    ...(r.cwd ? { cwd: r.cwd } : {}),
  });
  if (r.placeholder) writePlaceholder(r.placeholder, written.name);
  return written;
}
